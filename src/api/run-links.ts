// The `links` of a run in API answers: itself, the sub-resources a caller acts through, and the run
// in the Temporal Web UI when config names one (`api.temporalUiUrl`).
import type { Client } from '@temporalio/client';
import type { BatonConfig } from '../config';

export type RunLinks<S extends string> = { self: string; temporalUi?: string } & Record<S, string>;

/** `collection` as in `/v1/<collection>/<id>`; `subs` the paths under a run (`approvals`, `actions`...). */
export function runLinksOf<S extends string>(collection: string, subs: readonly S[], config: Pick<BatonConfig, 'api'>, client: Client): (id: string) => RunLinks<S> {
  return (id) => {
    const self = `/v1/${collection}/${id}`;
    const ui = config.api.temporalUiUrl;
    const under = Object.fromEntries(subs.map((s) => [s, `${self}/${s}`])) as Record<S, string>;
    return {
      self,
      ...under,
      ...(ui ? { temporalUi: `${ui}/namespaces/${encodeURIComponent(client.options.namespace)}/workflows/${encodeURIComponent(id)}` } : {}),
    };
  };
}
