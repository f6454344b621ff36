import { CreateClusterCommand, CreateServiceCommand, RegisterTaskDefinitionCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateBucketCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import type { Moto } from '../helpers/moto.js';
import type { MotoClients } from './moto-stack.js';

/**
 * docs/aws.md "Setup", step by step, through the SDK: the same resources, names and settings as
 * the AWS CLI commands and the Terraform snippet there, so the first-run test proves the docs.
 * Keep the two in step. (moto has no security groups to check and no data plane; the default
 * VPC's subnets stand in for "your subnets".)
 */
export interface DocumentedSetup {
  loadBalancerArn: string;
  dnsName: string;
  listenerArn: string;
  targetGroupArns: [string, string];
  taskDefinitionArn: string;
  bucket: string;
}

export async function createDocumentedSetup(moto: Moto, c: MotoClients): Promise<DocumentedSetup> {
  const subnets = await defaultSubnets(moto);
  // 1. The load balancer (yours may exist already).
  const lb = (await c.elb.send(new CreateLoadBalancerCommand({ Name: 'web-alb', Type: 'application', Subnets: subnets }))).LoadBalancers![0];
  // 2. Two target groups, target type ip (awsvpc / Fargate tasks register by IP), on the container port.
  const tgs: string[] = [];
  for (const name of ['web-a', 'web-b']) {
    const tg = await c.elb.send(new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: 8080, VpcId: lb.VpcId, TargetType: 'ip', HealthCheckPath: '/health' }));
    tgs.push(tg.TargetGroups![0].TargetGroupArn!);
  }
  // 3. The production listener on port 80: forward to web-a, and to web-b at weight 0 so web-b
  //    is attached to the load balancer before its ECS service is created (AWS requires it).
  const listener = await c.elb.send(
    new CreateListenerCommand({
      LoadBalancerArn: lb.LoadBalancerArn,
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgs[0], Weight: 1 }, { TargetGroupArn: tgs[1], Weight: 0 }] } }],
    }),
  );
  // 4. The cluster and the task definition (one container "web" listening on 8080).
  await c.ecs.send(new CreateClusterCommand({ clusterName: 'prod' }));
  const td = await c.ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'web',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '256',
      memory: '512',
      containerDefinitions: [{ name: 'web', image: 'repo/web:1.4.1', essential: true, portMappings: [{ containerPort: 8080 }] }],
    }),
  );
  const taskDefinitionArn = td.taskDefinition!.taskDefinitionArn!;
  // 5. Two services, one per target group (containerName / containerPort), web-b with no tasks.
  for (const [i, name] of ['web-a', 'web-b'].entries()) {
    await c.ecs.send(
      new CreateServiceCommand({
        cluster: 'prod',
        serviceName: name,
        taskDefinition: taskDefinitionArn, // the docs say "web" (the latest revision); moto wants the ARN
        desiredCount: i === 0 ? 2 : 0,
        launchType: 'FARGATE',
        // networkConfiguration (your subnets and security group, as the docs say) is left out: moto 5.2.1's
        // server answers CreateService with an HTML 500 when it is given.
        loadBalancers: [{ targetGroupArn: tgs[i], containerName: 'web', containerPort: 8080 }],
      }),
    );
  }
  // (moto only: its running count follows an update, not the create.)
  await c.ecs.send(new UpdateServiceCommand({ cluster: 'prod', service: 'web-a', desiredCount: 2 }));
  // 6. The state bucket, versioned.
  await c.s3.send(new CreateBucketCommand({ Bucket: 'my-company-zdd-state' }));
  await c.s3.send(new PutBucketVersioningCommand({ Bucket: 'my-company-zdd-state', VersioningConfiguration: { Status: 'Enabled' } }));
  return {
    loadBalancerArn: lb.LoadBalancerArn!,
    dnsName: lb.DNSName!,
    listenerArn: listener.Listeners![0].ListenerArn!,
    targetGroupArns: [tgs[0], tgs[1]],
    taskDefinitionArn,
    bucket: 'my-company-zdd-state',
  };
}

/** The default VPC's subnets (moto's query API; no EC2 client in our dependencies). */
async function defaultSubnets(moto: Moto): Promise<string[]> {
  const res = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    headers: {
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0',
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'Action=DescribeSubnets&Version=2016-11-15',
  });
  const ids = [...(await res.text()).matchAll(/<subnetId>([^<]+)<\/subnetId>/g)].map((m) => m[1]);
  if (ids.length < 2) throw new Error('moto returned no default subnets');
  return ids.slice(0, 2);
}
