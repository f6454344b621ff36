/**
 * Where a revision's ALB per-target-group metrics are (AWS/ApplicationELB), as the platform running
 * it says in `endpoints().metricDimensions.alb`; read by the `cloudwatch` check. Type only: no SDK.
 */
export interface AlbDimensions {
  targetGroupArn: string;
  loadBalancerArn?: string;
  region?: string;
}

// The `cloudwatch` check's field of the provider's MetricDimensions: core names no metric source.
declare module '../../core/provider.js' {
  interface MetricDimensions {
    /** ALB per-target-group metrics (AWS/ApplicationELB), read by the `cloudwatch` check. */
    alb?: AlbDimensions;
  }
}
