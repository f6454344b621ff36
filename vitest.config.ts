import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The usual order (slow and failed files first), except that the Kubernetes files go last: on a
 * fresh machine `.ci/run` builds kube-apiserver in the background while everything else runs, and
 * those files wait for the build (test/helpers/kube.ts).
 */
class KubernetesLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const isKube = (f: TestSpecification) => /[\\/]test[\\/]kubernetes[\\/]/.test(f.moduleId);
    return [...sorted.filter((f) => !isKube(f)), ...sorted.filter(isKube)];
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Load tests and real servers share two cores: keep parallelism modest and honest.
    maxWorkers: 2,
    fileParallelism: true,
    sequence: { sequencer: KubernetesLastSequencer },
  },
});
