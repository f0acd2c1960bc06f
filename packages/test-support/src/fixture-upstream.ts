import { startCountingProxy, type CountingProxy } from './counting-proxy.js';
import { pushFixtures, type FixtureOptions, type Fixtures } from './fixtures.js';
import { startRegistry, type RegistryOptions, type UpstreamRegistry } from './upstream-registry.js';

export interface FixtureUpstream {
  registry: UpstreamRegistry;
  /** What the system under test talks to: counts (and can fault) every request that reaches the upstream. */
  proxy: CountingProxy;
  fixtures: Fixtures;
  stop(): Promise<void>;
}

/**
 * A real docker-registry with the fixtures pushed, behind a counting, fault-injecting proxy.
 * `fixtureOptions.seed` gives the upstream content no other upstream has.
 */
export async function startFixtureUpstream(options: RegistryOptions = {}, fixtureOptions: FixtureOptions = {}): Promise<FixtureUpstream> {
  const registry = await startRegistry(options);
  try {
    const fixtures = await pushFixtures(registry, fixtureOptions);
    const proxy = await startCountingProxy(registry.url);
    return {
      registry,
      proxy,
      fixtures,
      async stop() {
        await proxy.stop();
        await registry.stop();
      },
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}
