// The per-claim Secret (endpoint + ticket), written only when something changed: the binding, the
// endpoint, the signing key, or the ticket's remaining lifetime. What was written is remembered
// (re-read after 10 minutes, in case someone edited the Secret) to spare a read per reconcile.
import { secretNameFor, type VirtualGPUClaim, type ClaimAllocation } from '@avec/api';
import { ticketNeedsRefresh, refreshInSeconds, renderClaimSecret } from './claim-secret.js';
import { signWithKeyring, peekTicket } from '@avec/tickets';
import { isStatus } from '@avec/kube';
import type { OperatorContext } from './context.js';

interface SecretMemo {
  endpoint: string;
  ticket: string;
  /** When the Secret was last read or written. */
  atMs: number;
}

const SECRET_MEMO_MS = 10 * 60_000;

export class ClaimSecretWriter {
  private readonly memo = new Map<string, SecretMemo>();

  constructor(private readonly ctx: OperatorContext) {}

  forget(key: string): void {
    this.memo.delete(key);
  }

  /** Make the Secret current; returns when the ticket should next be looked at. */
  async ensure(claim: VirtualGPUClaim, alloc: ClaimAllocation): Promise<{ refreshInMs: number }> {
    const ns = claim.metadata.namespace ?? '';
    const name = claim.metadata.name;
    const nowS = Math.floor(this.ctx.clock.now() / 1000);
    const ring = this.ctx.keyring();
    // maxs: the per-claim session cap (docs/tickets.md, "Replays"); the server's own cap still applies.
    const maxs = claim.spec.maxSessions ?? this.ctx.maxSessionsPerClaim;
    const want = { uid: claim.metadata.uid, ns, claim: name, node: alloc.node, dev: alloc.deviceUUID, mem: alloc.memoryBytes, cpct: alloc.computePercent, maxs };
    const key = `${ns}/${name}`;
    let memo = this.memo.get(key);
    if (memo && this.ctx.clock.now() - memo.atMs > SECRET_MEMO_MS) memo = undefined;
    // A claim that never had a Secret gets a create without a read first (saves a round trip per bind).
    const neverHadSecret = claim.status?.secretName === undefined;
    if (!memo && !neverHadSecret) {
      try {
        const s = (await this.ctx.api.secrets.get(secretNameFor(name), ns)) as { data?: Record<string, string> };
        const d = (k: string): string => Buffer.from(s.data?.[k] ?? '', 'base64').toString('utf8');
        memo = { endpoint: d('endpoint'), ticket: d('ticket'), atMs: this.ctx.clock.now() };
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
    }
    let ticket = memo?.ticket ?? '';
    let current = peekTicket(ticket);
    const resign = ticketNeedsRefresh(current, want, ring.currentKid, nowS, this.ctx.ticketTtlSeconds);
    if (resign) {
      ticket = signWithKeyring(ring, { ...want, iat: nowS, exp: nowS + this.ctx.ticketTtlSeconds });
      current = peekTicket(ticket);
    }
    if (!memo || memo.endpoint !== alloc.endpoint || resign) {
      const secret = renderClaimSecret({ name, namespace: ns, uid: claim.metadata.uid }, alloc.endpoint, ticket);
      if (memo && memo.ticket !== '') await this.ctx.api.secrets.replace(secret.metadata.name, secret, ns);
      else {
        try {
          await this.ctx.api.secrets.create(secret, ns);
        } catch (err) {
          if (!isStatus(err, 409)) throw err;
          await this.ctx.api.secrets.replace(secret.metadata.name, secret, ns);
        }
      }
      this.ctx.log.info('claim secret written', { namespace: ns, name, secret: secret.metadata.name, node: alloc.node, kid: current?.kid });
      memo = { endpoint: alloc.endpoint, ticket, atMs: this.ctx.clock.now() };
      this.memo.set(key, memo);
    }
    return { refreshInMs: refreshInSeconds(current!, nowS, this.ctx.ticketTtlSeconds) * 1000 };
  }
}
