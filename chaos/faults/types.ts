/**
 * What a fault is: it injects itself into the tier, heals, and says what "recovered" means beyond the
 * tier being healthy again. A scenario (chaos/scenarios.ts) combines a fault with a target and an
 * expectation. Adding a fault is one file in this folder plus its scenarios.
 */
import type { MemberComponent, TierDescriptor } from '../../contract/index.js';
import type { TierHealth } from '../../tools/health.js';
import type { Kube } from '../../tools/kube.js';
import type { KindNodes } from '../nodes.js';
import type { FailoverKind } from '../phases.js';

/** The pod a fault acts on (and its node), resolved from the tier's health when the trial starts. */
export interface Target {
  component: MemberComponent;
  pod: string;
  node: string;
  /** Whether it led its component when chosen. */
  leader: boolean;
}

export interface FaultContext {
  kube: Kube;
  tier: TierDescriptor;
  health: TierHealth;
  /** Present when the fault needs the nodes (kind). */
  nodes?: KindNodes;
  log(message: string): void;
}

export interface Injection {
  /** What exactly was done, for the report. */
  detail: string;
  /** Undoes the fault; called once, after the scenario's duration (or at once for faults that end by themselves). */
  heal(): Promise<void>;
  /** The node taken away, if any (its NotReady time becomes a phase). */
  node?: string;
  /** The probe died with the fault (a full restart): its acknowledged writes are read back by a new one. */
  probeLost?: boolean;
  /**
   * For a fault that reaches the leader late (`Fault.lateFailover`): when the leader's own part began
   * (epoch ms: its pod deleted or evicted). The failover's phases are timed from then; absent when the
   * fault never reached the leader.
   */
  failoverAt?: number;
}

export interface Fault {
  readonly name: string;
  /** One line: what it does. */
  readonly title: string;
  /** Needs the nodes' runtime (kind): crash, node, partition, full restart. */
  readonly needsNodes: boolean;
  /** How a leader it hits starts the failover (sets the predicted bounds). */
  readonly failover: FailoverKind;
  /**
   * The target's container must not have ended within the kubelet's back-off window (10 min): a
   * container that crashed recently is restarted only after a back-off that doubles up to 5 min, so a
   * trial would measure the back-off left over from the previous trial, not this crash. The runner
   * replaces such a pod first (a graceful delete gives a new pod, with no back-off).
   */
  readonly freshContainer?: boolean;
  /**
   * The fault reaches the target's leader only after other work (a rollout replaces it last, a drain
   * evicts it when its PDB allows): its injection says when (`Injection.failoverAt`), and the phases
   * are timed from then, not from the fault's start.
   */
  readonly lateFailover?: boolean;
  inject(ctx: FaultContext, target: Target | undefined, durationMs: number): Promise<Injection>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
