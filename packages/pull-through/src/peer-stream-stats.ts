/** Why a follower did not (or no longer could) read a leader's stream. */
export type PeerStreamFailure = 'not-allowed' | 'unreachable' | 'refused' | 'broken';

/**
 * Counts of this process's peer streams (for the metrics): served to other replicas as their
 * leader, followed from a leader, and followed ones that failed, by why: its URL is outside the
 * allowed networks (never contacted), it could not be reached in time, it answered with an error
 * (all three before any byte: the clients wait for the commit instead), or it broke mid-body (or
 * its bytes did not verify: the clients reading it were cut).
 */
export class PeerStreamStats {
  served = 0;
  followed = 0;
  readonly failed: Record<PeerStreamFailure, number> = { 'not-allowed': 0, unreachable: 0, refused: 0, broken: 0 };
}
