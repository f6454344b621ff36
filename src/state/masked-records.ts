import type { SecretMask } from '../core/secret-mask.js';
import type { StateStore } from '../core/state.js';

/**
 * The store with every record masked before it is written (promise 12: no secret in state): a
 * command line or stderr line in a verdict, an error message, the holder's command.
 */
export function withMaskedRecords(store: StateStore, mask: SecretMask): StateStore {
  const records = store.records;
  return {
    lock: store.lock,
    get location() {
      return store.location;
    },
    records: {
      latest: (service) => records.latest(service),
      history: (service, limit) => records.history(service, limit),
      save: (record) => records.save(mask.maskDeep(record)),
      request: (service, deploymentId, kind, request) => records.request(service, deploymentId, kind, request),
      requests: (service, deploymentId) => records.requests(service, deploymentId),
      ...(records.watchRequests && { watchRequests: records.watchRequests.bind(records) }),
    },
  };
}
