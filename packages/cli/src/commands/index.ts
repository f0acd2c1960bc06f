import type { CommandSpec } from '../command.js';
import { cacheCommands } from './cache-commands.js';
import { credentialSetCommands } from './credential-set-commands.js';
import { healthCommands } from './health-commands.js';
import { hydrationCommands } from './hydration-commands.js';
import { mirrorConfigCommand } from './mirror-config-command.js';
import { webhookCommands } from './webhook-commands.js';

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly CommandSpec[] = [...cacheCommands, ...credentialSetCommands, ...healthCommands, ...hydrationCommands, ...webhookCommands, mirrorConfigCommand];
