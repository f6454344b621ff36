import type { Action, TargetGroupTuple } from '@aws-sdk/client-elastic-load-balancing-v2';

/**
 * Pure helpers over ALB actions. ModifyListener/ModifyRule replace the whole action list, so zdd
 * reads it, changes only the forward action's weights and writes everything back.
 */

/** Target group ARN → raw ALB weight (0–999), accepting both the bare and the ForwardConfig shape. */
export function forwardWeights(actions: Action[] | undefined): Map<string, number> | null {
  const fwd = (actions ?? []).find((a) => a.Type === 'forward');
  if (!fwd) return null;
  const out = new Map<string, number>();
  const groups = fwd.ForwardConfig?.TargetGroups ?? [];
  if (groups.length > 0) {
    for (const g of groups) if (g.TargetGroupArn) out.set(g.TargetGroupArn, g.Weight ?? 1);
  } else if (fwd.TargetGroupArn) {
    out.set(fwd.TargetGroupArn, 1);
  }
  return out;
}

/** Raw ALB weights as percents of their sum (zdd writes percents, so they come back unchanged). */
export function toPercents(raw: Map<string, number>): Map<string, number> {
  const sum = [...raw.values()].reduce((a, b) => a + b, 0);
  const out = new Map<string, number>();
  for (const [arn, w] of raw) out.set(arn, sum === 0 ? 0 : sum === 100 ? w : Math.round((w * 100) / sum));
  return out;
}

/**
 * The action list with the forward action replaced: `weights` for the listed groups, other
 * groups kept as they were, other actions (authenticate …) untouched. Stickiness: with
 * `stickySeconds` (zdd drives it) on while more than one group has weight and off when one holds
 * everything; without it, the block is kept as it was.
 */
export function withForwardWeights(actions: Action[], weights: Map<string, number>, stickySeconds?: number): Action[] {
  const index = actions.findIndex((a) => a.Type === 'forward');
  if (index < 0) throw new Error('no forward action');
  const fwd = actions[index];
  const current = forwardWeights([fwd]) ?? new Map<string, number>();
  const groups: TargetGroupTuple[] = [];
  for (const [arn, w] of weights) groups.push({ TargetGroupArn: arn, Weight: w });
  for (const [arn, w] of current) if (!weights.has(arn)) groups.push({ TargetGroupArn: arn, Weight: w });
  const split = groups.filter((g) => (g.Weight ?? 0) > 0).length > 1;
  const stickiness = stickySeconds !== undefined ? { Enabled: split, DurationSeconds: stickySeconds } : fwd.ForwardConfig?.TargetGroupStickinessConfig;
  const next: Action = {
    Type: 'forward',
    ...(fwd.Order !== undefined ? { Order: fwd.Order } : {}),
    ForwardConfig: {
      TargetGroups: groups,
      ...(stickiness ? { TargetGroupStickinessConfig: stickiness } : {}),
    },
  };
  return actions.map((a, i) => (i === index ? next : a));
}

/** A single-group forward action (header rule, test listener). */
export function forwardTo(targetGroupArn: string): Action {
  return { Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: targetGroupArn, Weight: 1 }] } };
}
