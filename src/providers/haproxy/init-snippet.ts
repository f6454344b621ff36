/** The `router: { … }` block `zdd init --router haproxy` writes into a platform's template. */
export const haproxyInitSnippet = `router: {
      // HAProxy in front, driven through its Runtime API (docs/haproxy.md has the haproxy.cfg it needs).
      type: 'haproxy',
      // The stats socket, at level admin (or host:port for \`stats socket ipv4@host:port level admin\`).
      runtimeApi: '/run/haproxy/admin.sock',
      // The backend whose \`server-template zdd 1-10 zdd-slot.invalid:1 disabled init-addr last,127.0.0.1\` slots zdd fills.
      backend: 'app',
      // Where clients reach the frontend: checks and hooks use it.
      url: 'http://127.0.0.1:80',
      // The header route to the candidate: the map the frontend's use_backend reads, and the backend it selects.
      testRoute: { map: '/etc/haproxy/zdd-test-route.map', backend: 'app_test' },
      // Sticky sessions: a client stays on the revision that served it during a canary (the cookie lines of docs/haproxy.md, section 5).
      // sticky: true,
    }`;
