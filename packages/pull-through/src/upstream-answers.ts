import { RegistryError, UpstreamAuthError, type RegistryErrorOptions } from '@pullthrough/oci';
import type { UpstreamAnswer } from '@pullthrough/upstream';
import { targetContext, type UpstreamTarget } from './upstream-target.js';

type NotFound = new (message: string, options?: RegistryErrorOptions) => RegistryError;

/** Unwrap an upstream answer: 404 becomes the resource's unknown error, 401/403 an upstream-auth error. */
export function unwrapAnswer<T>(answer: UpstreamAnswer<T>, target: UpstreamTarget, what: string, notFound: NotFound): T {
  switch (answer.kind) {
    case 'ok':
      return answer.value;
    case 'not-found':
      throw new notFound(`${what} not found upstream`).annotate(targetContext(target));
    case 'unauthorized':
    case 'forbidden':
      throw new UpstreamAuthError(
        `upstream ${target.upstreamRegistry} refused access to ${target.upstreamRepository} (rule "${target.rule.name}"): ${answer.message}`,
      ).annotate(targetContext(target));
  }
}

/** Add rule/upstream context to errors thrown by the upstream client. */
export function annotateUpstreamError(err: unknown, target: UpstreamTarget): unknown {
  if (err instanceof RegistryError) err.annotate(targetContext(target));
  return err;
}
