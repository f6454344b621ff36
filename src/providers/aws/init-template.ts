/**
 * The commented config `zdd init --provider aws` writes. The region and profile are left to the
 * SDK's chain (AWS_REGION, AWS_PROFILE, --region) unless given to `zdd init`.
 */
export function awsInitTemplate(opts: { region?: string; profile?: string } = {}): string {
  const pin = [opts.region ? `    region: ${JSON.stringify(opts.region)},\n` : '', opts.profile ? `    profile: ${JSON.stringify(opts.profile)},\n` : ''].join('');
  return `import { defineConfig } from 'zdd';

// zdd config for ECS services behind an Application Load Balancer.
// docs/aws.md "Setup" creates exactly what this file names (AWS CLI or Terraform): with those
// names nothing here needs editing. \`zdd validate\` checks it, \`zdd plan\` shows what a deploy
// would do.
export default defineConfig({
  // The name of what this config deploys; the lock and the records are per service.
  service: 'web',

  provider: {
    type: 'aws',
    // Region: --region, else provider.region, else AWS_REGION / the profile's region.
    // Credentials: the default chain (environment, --profile / AWS_PROFILE, SSO, instance or
    // task role, GitHub OIDC role). Pin them here only if every machine should use the same.
${pin}
    // ECS cluster name or ARN.
    cluster: 'prod',

    // Two slots: two ECS services of the same app, each registered in its own target group
    // (target type "ip" for awsvpc/Fargate; the service's loadBalancers name containerName and
    // containerPort). One serves stable; the other takes the candidate and starts with
    // desiredCount 0. zdd records which slot runs which revision in tags on the target groups
    // (zdd:revision, zdd:image, zdd:task-definition, zdd:role).
    slots: [
      { service: 'web-a', targetGroup: 'web-a' },
      { service: 'web-b', targetGroup: 'web-b' },
    ],

    // The production listener. A forward to the stable slot's group is all zdd needs: it adds
    // the other group at weight 0 (so it stays health-checked) and manages the weights. The
    // setup forwards to both (web-b at weight 0) only because AWS refuses to create an ECS
    // service whose target group no load balancer uses yet. An ARN works too.
    listener: { loadBalancer: 'web-alb', port: 80 },
    // Or weight the forward action of one listener rule instead of the default action:
    // rule: { priority: 10 },

    // The container whose image \`--image\` replaces (default: the only or first container).
    // container: 'web',

    // \`zdd deploy --revision 1.4.2\` without --image runs this image ({{revision}} replaced).
    // Without it, a deploy on AWS needs --image.
    // image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:{{revision}}',

    // Requests with this header reach the candidate before it has production weight (smoke
    // tests, testers): zdd adds a listener rule tagged zdd:service=web at the highest free
    // priority before production and removes it after the deploy. Pin one with \`priority\`
    // (it must be free); a rollback never needs it.
    testRoute: { header: 'X-Canary', value: 'always' },
    // Blue-green: a second listener (e.g. port 8443) that forwards to the candidate, like
    // CodeDeploy's test traffic route.
    // testListener: { port: 8443 },

    // Production URL for checks and hooks (default: http://<load balancer DNS name>).
    // url: 'https://web.example.com',

    // Time between health polls; the ECS and ELB API rate limits advise 5–15s.
    pollInterval: '5s',
  },

  // Records and the lock live next to the service, so \`zdd status\` and \`zdd rollback\` work
  // from any machine (a laptop during an incident, not only the CI runner that deployed).
  state: { type: 's3', bucket: 'my-company-zdd-state', prefix: 'zdd/' },

  // Tasks per revision. Default: as many as stable runs now (its service's desiredCount).
  // replicas: 2,

  // How long a revision at weight 0 keeps serving in-flight requests before its tasks stop.
  // ECS also waits the target group's deregistration delay when it stops them.
  drain: '30s',

  // How long new tasks may take to become healthy (running, and every target healthy).
  health: { timeout: '5m' },

  strategies: {
    default: 'canary',
    canary: {
      steps: [
        { weight: 10, pause: '2m' },
        { weight: 25, pause: '2m' },
        { weight: 50, pause: '2m' },
        { weight: 75, pause: '2m' },
        { weight: 100 },
      ],
    },
    linear: { stepPercent: 20, interval: '2m' },
    // keepPrevious: the old slot keeps running this long after the switch, so rollback is one
    // listener call; \`zdd retire\` (or the next deploy) stops it after that.
    'blue-green': { bake: '5m', keepPrevious: '30m' },
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
  },

  gates: {
    // Runs before the candidate gets production traffic, through the header route (so the
    // checks reach the load balancer: from CI on the internet, an internet-facing one or a url).
    smoke: { checks: [{ type: 'http', path: '/health', expectStatus: 200 }] },
    // Runs during every bake; a failure rolls back at once. ALB metrics arrive per minute,
    // one to a few minutes late: keep bakes at several minutes. Too little traffic to judge is
    // inconclusive: the deploy pauses for \`zdd promote\` / \`zdd abort\` ('pass' goes on,
    // 'rollback' rolls back).
    analysis: {
      onInconclusive: 'pause',
      checks: [{ type: 'cloudwatch', interval: '1m', maxErrorRate: 5, minRequests: 50 }],
    },
  },

  // Commands at lifecycle points: preDeploy, postProvision, preShift, postShift, postDeploy, onRollback.
  hooks: {
    // preDeploy: { run: 'npm run migrate', timeout: '5m' },
  },
});
`;
}
