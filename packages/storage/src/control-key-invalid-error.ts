import { RegistryError } from '@pullthrough/oci';

/**
 * A control-area kind or name is malformed. Admin handlers validate names first, so reaching
 * this is a bug: the code is deliberately absent from the wire table (UNKNOWN 500).
 */
export class ControlKeyInvalidError extends RegistryError {
  readonly code = 'CONTROL_KEY_INVALID';
}
