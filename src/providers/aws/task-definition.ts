import type { RegisterTaskDefinitionCommandInput, Tag, TaskDefinition } from '@aws-sdk/client-ecs';
import { ProviderError } from '../../core/errors.js';

/** Fields DescribeTaskDefinition returns that RegisterTaskDefinition refuses or ignores. */
const READ_ONLY = ['taskDefinitionArn', 'revision', 'status', 'requiresAttributes', 'compatibilities', 'registeredAt', 'registeredBy', 'deregisteredAt'] as const;

/**
 * The registration input for a copy of `base` whose `container` (default: the only or first one)
 * runs `image`; everything else, tags included, stays as it was.
 */
export function taskDefinitionWithImage(base: TaskDefinition, tags: Tag[] | undefined, image: string, container?: string): RegisterTaskDefinitionCommandInput {
  const copy: Record<string, unknown> = { ...base };
  for (const k of READ_ONLY) delete copy[k];
  const containers = base.containerDefinitions ?? [];
  const target = container ? containers.find((c) => c.name === container) : containers[0];
  if (!target) {
    const names = containers.map((c) => `"${c.name}"`).join(', ') || 'none';
    throw new ProviderError(`Task definition ${base.family}:${base.revision} has no container "${container}" (containers: ${names})`, {
      hint: 'Set provider.container in deploy.config.ts to the container whose image zdd replaces.',
    });
  }
  copy.containerDefinitions = containers.map((c) => (c === target ? { ...c, image } : c));
  const input = copy as unknown as RegisterTaskDefinitionCommandInput;
  if (tags && tags.length > 0) input.tags = tags;
  return input;
}

/** The image of the container zdd deploys (default: the only or first one). */
export function containerImage(td: TaskDefinition, container?: string): string | undefined {
  const containers = td.containerDefinitions ?? [];
  return (container ? containers.find((c) => c.name === container) : containers[0])?.image;
}

const TASK_DEFINITION_ARN = /^arn:aws[a-z-]*:ecs:[^:]*:\d+:task-definition\/[^:]+:\d+$/;

/** `--image arn:aws:ecs:…:task-definition/web:7` deploys that task definition as it is. */
export function isTaskDefinitionArn(s: string): boolean {
  return TASK_DEFINITION_ARN.test(s);
}
