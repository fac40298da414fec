// The official TypeScript SDK (@honcho-ai/sdk, the version package-lock.json pins) against a live
// honcho-local at $HONCHO_TEST_URL, run by tests/test_ts_sdk.py. Each step drives SDK methods and asserts
// what they return (and, for writes, what reads back). The server's model is the test's fake: reasoning
// is off, so the only conclusions are the ones written here, and a chat answers "seen: FACT-..." with the
// FACT-* markers its prompt held, so an answer shows what the server recalled.
// Coverage: all 73 public methods of the SDK 2.5.0's network classes (Honcho 19, Peer 16, Session 23,
// ConclusionsView 8, WorkspaceConclusions 3, Scope 4), each checked to return what Honcho's would. A
// "call checked" below is a method, or a method with an option set that takes another server path.
// Prints "ok: N steps, M SDK calls checked" and exits 0, or names the failed step and exits 1.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Honcho, HonchoError, NotFoundError, Scope } from '@honcho-ai/sdk';
import { z } from 'zod';

const baseURL = process.env.HONCHO_TEST_URL;
if (!baseURL) throw new Error('HONCHO_TEST_URL is not set');
const apiKey = process.env.HONCHO_TEST_API_KEY || undefined; // an admin key where the server has auth on
const W = `ts-${randomUUID().slice(0, 8)}`;
const honcho = new Honcho({ baseURL, apiKey, workspaceId: W, maxRetries: 0, timeout: 600_000 });
const covered = new Set();
const steps = [];
const step = (name, calls, fn) => steps.push({ name, calls, fn });
const state = {};

/** Asserts `promise` rejects with HTTP `status` and a detail matching `detail`. */
async function refused(promise, status, detail) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.status, status, `expected ${status}, got ${err.status}: ${err.message}`);
    if (detail) assert.match(err.message, detail);
    return true;
  });
}

/** Asserts evidence rows come oldest first, ties by id, each once: Honcho's EvidenceAccumulator order. */
function inHonchoOrder(rows) {
  const micros = (t) => { const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t); return `${m[1]}.${(m[2] ?? '').padEnd(6, '0')}`; };
  const key = (r) => [micros(r.created_at), r.id]; // to the microsecond (Date.parse stops at ms)
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [key(rows[i - 1]), key(rows[i])];
    assert.ok(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), `evidence out of order at ${i}: ${JSON.stringify(rows)}`);
  }
}

async function all(page) {
  const out = [];
  for await (const item of page) out.push(item);
  return out;
}

async function waitIdle(target) {
  // The worker embeds messages in the background; search reads them once the queue is empty.
  for (let i = 0; i < 3000; i++) {
    const s = await target.queueStatus();
    if (s.pendingWorkUnits === 0 && s.inProgressWorkUnits === 0) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('queue did not drain');
}

if (apiKey) {
  step('api keys: the SDK sends apiKey as Honcho\'s bearer token', ['Honcho({ apiKey })'], async () => {
    const keyless = new Honcho({ baseURL, workspaceId: W, maxRetries: 0 });
    await refused(keyless.getMetadata(), 401);
    const wrong = new Honcho({ baseURL, apiKey: `${apiKey}x`, workspaceId: W, maxRetries: 0 });
    await refused(wrong.getMetadata(), 401);
    assert.deepEqual(await honcho.getMetadata(), {});
  });
}

step('workspace metadata and configuration', ['Honcho()', 'honcho.setMetadata', 'honcho.getMetadata',
  'honcho.setConfiguration', 'honcho.getConfiguration', 'honcho.refresh', 'honcho.workspaces'], async () => {
  await honcho.setMetadata({ team: 'ts', run: W });
  assert.deepEqual(await honcho.getMetadata(), { team: 'ts', run: W });
  await honcho.setConfiguration({ reasoning: { enabled: false } });
  const conf = await honcho.getConfiguration();
  assert.equal(conf.reasoning?.enabled, false);
  await honcho.refresh();
  assert.deepEqual(honcho.metadata, { team: 'ts', run: W });
  const ids = await all(await honcho.workspaces());
  assert.ok(ids.includes(W), `workspace ${W} listed`);
});

step('peers', ['honcho.peer', 'peer.setMetadata', 'peer.getMetadata', 'peer.setConfiguration',
  'peer.getConfiguration', 'peer.refresh', 'honcho.peers'], async () => {
  state.alice = await honcho.peer('alice', { metadata: { role: 'user' } });
  state.bob = await honcho.peer('bob');
  state.carol = await honcho.peer('carol');
  assert.equal(state.alice.id, 'alice');
  assert.deepEqual(await state.alice.getMetadata(), { role: 'user' });
  await state.bob.setMetadata({ role: 'assistant', n: 2 });
  assert.deepEqual(await state.bob.getMetadata(), { role: 'assistant', n: 2 });
  await state.carol.setConfiguration({ observeMe: false });
  assert.equal((await state.carol.getConfiguration()).observeMe, false);
  await state.bob.refresh();
  assert.equal(state.bob.metadata.n, 2);
  const page = await honcho.peers({ size: 2 });
  assert.equal(page.total, 3);
  assert.equal(page.items.length, 2);
  assert.equal(page.pages, 2);
  assert.equal(page.page, 1);
  assert.equal(page.size, 2);
  assert.ok(page.hasNextPage);
  const next = await page.getNextPage();
  assert.equal(next.items.length, 1);
  assert.equal(next.page, 2);
  assert.ok(!next.hasNextPage);
  assert.equal(await next.getNextPage(), null);
  assert.ok(!Number.isNaN(Date.parse(page.items[0].createdAt)), page.items[0].createdAt);
  assert.deepEqual((await all(page)).map((p) => p.id).sort(), ['alice', 'bob', 'carol']);
  const filtered = await honcho.peers({ filters: { metadata: { role: 'assistant' } } });
  assert.deepEqual(filtered.items.map((p) => p.id), ['bob']);
});

step('sessions and their peers', ['honcho.session', 'session.addPeers', 'session.peers',
  'session.getPeerConfiguration', 'session.setPeerConfiguration', 'session.removePeers', 'session.setPeers',
  'session.setMetadata', 'session.getMetadata', 'session.setConfiguration', 'session.getConfiguration',
  'session.refresh', 'honcho.sessions', 'peer.sessions'], async () => {
  const s1 = await honcho.session('s1', { metadata: { topic: 'hobbies' } });
  state.s1 = s1;
  await s1.addPeers([state.alice, state.bob, state.carol]);
  assert.deepEqual((await s1.peers()).map((p) => p.id).sort(), ['alice', 'bob', 'carol']);
  await s1.setPeerConfiguration(state.bob, { observeOthers: true, observeMe: false });
  const conf = await s1.getPeerConfiguration('bob');
  assert.equal(conf.observeOthers, true);
  assert.equal(conf.observeMe, false);
  await s1.removePeers('carol');
  assert.deepEqual((await s1.peers()).map((p) => p.id).sort(), ['alice', 'bob']);
  const s2 = await honcho.session('s2');
  state.s2 = s2;
  await s2.setPeers(['alice', 'carol']);
  assert.deepEqual((await s2.peers()).map((p) => p.id).sort(), ['alice', 'carol']);
  await s2.setPeers(['alice', 'bob']);
  assert.deepEqual((await s2.peers()).map((p) => p.id).sort(), ['alice', 'bob']);
  assert.deepEqual(await s1.getMetadata(), { topic: 'hobbies' });
  await s2.setMetadata({ topic: 'pets' });
  assert.deepEqual(await s2.getMetadata(), { topic: 'pets' });
  await s2.setConfiguration({ summary: { enabled: false } });
  assert.equal((await s2.getConfiguration()).summary?.enabled, false);
  await s2.refresh();
  assert.deepEqual(s2.metadata, { topic: 'pets' });
  assert.equal(s2.isActive, true);
  assert.ok(!Number.isNaN(Date.parse(s2.createdAt)), s2.createdAt);
  const listed = await honcho.sessions();
  assert.deepEqual(listed.items.map((s) => s.id).sort(), ['s1', 's2']);
  const pets = await honcho.sessions({ filters: { metadata: { topic: 'pets' } } });
  assert.deepEqual(pets.items.map((s) => s.id), ['s2']);
  // As in Honcho (crud.get_sessions_for_peer): every session the peer joined, left ones included
  assert.deepEqual((await all(await state.carol.sessions())).map((s) => s.id).sort(), ['s1', 's2']);
  assert.deepEqual((await all(await state.alice.sessions())).map((s) => s.id).sort(), ['s1', 's2']);
});

step('messages: create, batch, list, filters, get, update', ['peer.message', 'session.addMessages',
  'session.messages', 'session.getMessage', 'session.updateMessage'], async () => {
  const { s1, s2, alice, bob } = state;
  const one = await s1.addMessages(alice.message('I keep bees on my roof FACT-bees',
    { metadata: { mood: 'happy' }, createdAt: '2024-01-02T03:04:05Z' }));
  assert.equal(one.length, 1);
  assert.equal(one[0].peerId, 'alice');
  assert.equal(one[0].sessionId, 's1');
  assert.equal(one[0].workspaceId, W);
  assert.deepEqual(one[0].metadata, { mood: 'happy' });
  assert.ok(one[0].createdAt.startsWith('2024-01-02T03:04:05'), one[0].createdAt);
  assert.ok(one[0].tokenCount > 0);
  const batch = await s1.addMessages([
    bob.message('That sounds like a lot of honey'),
    alice.message('It is, and I play the oboe too FACT-oboe'),
    bob.message('I play the cello every evening FACT-cello', { metadata: { mood: 'calm' } }),
    alice.message('My cat Miso sleeps on the piano FACT-miso'),
  ]);
  assert.deepEqual(batch.map((m) => m.peerId), ['bob', 'alice', 'bob', 'alice']);
  assert.equal(new Set([...one, ...batch].map((m) => m.id)).size, 5);
  state.s1Messages = [...one, ...batch];
  await s2.addMessages([alice.message('Today I adopted a parrot FACT-parrot'), bob.message('Congratulations')]);
  const page = await s1.messages({ size: 2 });
  assert.equal(page.total, 5);
  assert.equal(page.pages, 3);
  assert.deepEqual(page.items.map((m) => m.id), state.s1Messages.slice(0, 2).map((m) => m.id));
  const everything = await all(page);
  assert.deepEqual(everything.map((m) => m.content), state.s1Messages.map((m) => m.content));
  const reversed = await s1.messages({ reverse: true, size: 1 });
  assert.equal(reversed.items[0].id, state.s1Messages[4].id);
  const bobs = await s1.messages({ filters: { peer_id: 'bob' } });
  assert.deepEqual(bobs.items.map((m) => m.id), [batch[0].id, batch[2].id]);
  const calm = await s1.messages({ filters: { metadata: { mood: 'calm' } } });
  assert.deepEqual(calm.items.map((m) => m.id), [batch[2].id]);
  const got = await s1.getMessage(batch[1].id);
  assert.equal(got.content, 'It is, and I play the oboe too FACT-oboe');
  const updated = await s1.updateMessage(got, { starred: true });
  assert.deepEqual(updated.metadata, { starred: true });
  assert.deepEqual((await s1.getMessage(batch[1].id)).metadata, { starred: true });
  await refused(s1.getMessage('no-such-message'), 404, /not found/i);
});

step('queue status', ['honcho.queueStatus', 'session.queueStatus'], async () => {
  const s = await waitIdle(honcho);
  assert.equal(s.pendingWorkUnits, 0);
  assert.ok(s.totalWorkUnits >= s.completedWorkUnits);
  const perSession = await state.s1.queueStatus();
  assert.equal(perSession.pendingWorkUnits, 0);
});

step('conclusions: create, get, list, query, derived, delete', ['peer.conclusions', 'peer.conclusionsOf',
  'conclusions.create', 'conclusions.get', 'conclusions.getMany', 'conclusions.list', 'conclusions.query',
  'conclusions.derived', 'conclusions.delete', 'conclusions.representation', 'honcho.conclusions.list',
  'honcho.conclusions.get', 'honcho.conclusions.getMany'], async () => {
  const { alice, bob, s1, s2 } = state;
  const self = alice.conclusions;
  assert.equal(self.observer, 'alice');
  assert.equal(self.observed, 'alice');
  const made = await self.create([
    { content: 'alice keeps bees on her roof FACT-bees', sessionId: s1 },
    { content: 'alice plays the oboe FACT-oboe', sessionId: 's1' },
    { content: 'alice adopted a parrot FACT-parrot', sessionId: s2 },
    { content: 'alice dislikes rain FACT-rain' },
  ]);
  assert.equal(made.length, 4);
  for (const c of made) {
    assert.equal(c.observerId, 'alice');
    assert.equal(c.observedId, 'alice');
    assert.equal(c.level, 'explicit');
    assert.equal(c.sourceIds, null);
    assert.equal(c.timesDerived, 1);
  }
  assert.equal(made[0].sessionId, 's1');
  assert.ok(made.every((c) => !Number.isNaN(Date.parse(c.createdAt))));
  assert.equal(made[3].sessionId, null);
  state.conclusions = made;
  const aboutBob = await alice.conclusionsOf(bob).create({ content: 'bob plays the cello FACT-cello', sessionId: 's1' });
  assert.equal(aboutBob[0].observedId, 'bob');
  const got = await self.get(made[1].id);
  assert.equal(got.content, 'alice plays the oboe FACT-oboe');
  const many = await self.getMany([made[0].id, made[2].id]);
  assert.deepEqual(many.map((c) => c.id).sort(), [made[0].id, made[2].id].sort());
  const listed = await self.list({ size: 3 });
  assert.equal(listed.total, 4);
  assert.equal(listed.items.length, 3);
  assert.equal((await all(listed)).length, 4);
  const inS1 = await self.list({ session: s1 });
  assert.deepEqual(inS1.items.map((c) => c.id).sort(), [made[0].id, made[1].id].sort());
  const hits = await self.query('bees on the roof', 2);
  assert.ok(hits.length >= 1 && hits.length <= 2);
  assert.equal(hits[0].id, made[0].id);
  const derived = await self.derived(made[0].id);
  assert.equal(derived.total, 0);
  const rep = await self.representation();
  assert.match(rep, /FACT-bees/);
  const everyone = await honcho.conclusions.list();
  assert.equal(everyone.total, 5);
  assert.equal((await honcho.conclusions.get(aboutBob[0].id)).observedId, 'bob');
  assert.equal((await honcho.conclusions.getMany([aboutBob[0].id, made[3].id])).length, 2);
  await self.delete(made[3].id);
  await refused(self.get(made[3].id), 404);
  assert.equal((await self.list()).total, 3);
});

step('peer cards', ['peer.setCard', 'peer.getCard', 'peer.card'], async () => {
  const { alice, bob } = state;
  const set = await alice.setCard(['Beekeeper FACT-beekeeper', 'Lives in Lisbon']);
  assert.deepEqual(set, ['Beekeeper FACT-beekeeper', 'Lives in Lisbon']);
  assert.deepEqual(await alice.getCard(), ['Beekeeper FACT-beekeeper', 'Lives in Lisbon']);
  assert.deepEqual(await alice.card(), ['Beekeeper FACT-beekeeper', 'Lives in Lisbon']);
  await alice.setCard(['Plays cello'], bob);
  assert.deepEqual(await alice.getCard(bob), ['Plays cello']);
  assert.equal(await state.carol.getCard(), null);
});

step('representation and context', ['peer.representation', 'session.representation', 'peer.context',
  'session.context', 'session.summaries', 'SessionContext.toOpenAI', 'SessionContext.toAnthropic'], async () => {
  const { alice, bob, s1, s2 } = state;
  const rep = await alice.representation();
  for (const fact of ['FACT-bees', 'FACT-oboe', 'FACT-parrot']) assert.match(rep, new RegExp(fact));
  assert.doesNotMatch(rep, /FACT-rain/); // deleted
  const onlyS2 = await alice.representation({ sessions: [s2] });
  assert.match(onlyS2, /FACT-parrot/);
  assert.doesNotMatch(onlyS2, /FACT-bees/);
  const searched = await alice.representation({ searchQuery: 'oboe', searchTopK: 1, maxConclusions: 1 });
  assert.match(searched, /FACT-oboe/);
  const ofBob = await alice.representation({ target: bob });
  assert.match(ofBob, /FACT-cello/);
  const sessionRep = await s1.representation(alice);
  assert.match(sessionRep, /FACT-bees/);
  assert.doesNotMatch(sessionRep, /FACT-parrot/);
  const ctx = await alice.context();
  assert.equal(ctx.peerId, 'alice');
  assert.match(ctx.representation, /FACT-oboe/);
  assert.deepEqual(ctx.peerCard, ['Beekeeper FACT-beekeeper', 'Lives in Lisbon']);
  const sctx = await s1.context({ tokens: 2000, peerTarget: alice, summary: true });
  assert.equal(sctx.sessionId, 's1');
  assert.deepEqual(sctx.messages.map((m) => m.id), state.s1Messages.map((m) => m.id));
  assert.match(sctx.peerRepresentation, /FACT-bees/);
  assert.deepEqual(sctx.peerCard, ['Beekeeper FACT-beekeeper', 'Lives in Lisbon']);
  const openai = sctx.toOpenAI(bob); // system messages (representation, card), then the turns
  assert.deepEqual(openai.map((m) => m.role),
    ['system', 'system', 'user', 'assistant', 'user', 'assistant', 'user']);
  assert.match(openai[0].content, /^<peer_representation>.*FACT-bees/s);
  assert.equal(openai[6].content, state.s1Messages[4].content);
  const anthropic = sctx.toAnthropic(bob);
  assert.equal(anthropic.filter((m) => m.role === 'assistant').length, 2);
  const small = await s1.context({ tokens: 20 });
  assert.ok(small.messages.length < 5 && small.messages.length >= 1);
  assert.equal(small.messages.at(-1).id, state.s1Messages[4].id);
  const summaries = await s1.summaries();
  assert.equal(summaries.sessionId, 's1');
  assert.equal(summaries.shortSummary, null); // summaries are off in this server
});

step('search: workspace, peer, session', ['honcho.search', 'peer.search', 'session.search'], async () => {
  const { alice, bob, s1, s2 } = state;
  const ws = await honcho.search('cello every evening', { limit: 3 });
  assert.ok(ws.length >= 1 && ws.length <= 3);
  assert.match(ws[0].content, /FACT-cello/);
  const byBob = await bob.search('cello');
  assert.ok(byBob.length >= 1);
  assert.ok(byBob.every((m) => m.peerId === 'bob'));
  const inS2 = await s2.search('parrot');
  assert.ok(inS2.length >= 1);
  assert.ok(inS2.every((m) => m.sessionId === 's2'));
  assert.match(inS2[0].content, /FACT-parrot/);
  const filtered = await honcho.search('piano cat', { filters: { session_id: 's1' } });
  assert.ok(filtered.every((m) => m.sessionId === 's1'));
  const aliceInS1 = await s1.search('honey', { filters: { peer_id: 'alice' } });
  assert.ok(aliceInS1.every((m) => m.peerId === 'alice'));
  const byAlice = await alice.search('bees roof', { limit: 5 });
  assert.ok(byAlice.length >= 1 && byAlice.every((m) => m.peerId === 'alice'));
  assert.match(byAlice[0].content, /FACT-bees/);
});

step('peer chat: plain, evidence, session allowlist, streamed', ['peer.chat', 'peer.chatStream'],
  async () => {
    const { alice, bob, s2 } = state;
    const plain = await alice.chat('What are my hobbies?');
    assert.equal(typeof plain, 'string');
    assert.match(plain, /^seen: /);
    for (const fact of ['FACT-bees', 'FACT-oboe', 'FACT-parrot']) assert.match(plain, new RegExp(fact));
    const withEvidence = await alice.chat('What are my hobbies?', { includeEvidence: true });
    assert.match(withEvidence.content, /FACT-bees/);
    const ids = withEvidence.evidence.conclusions.map((c) => c.id);
    assert.ok(ids.includes(state.conclusions[0].id));
    for (const c of withEvidence.evidence.conclusions) {
      assert.equal(c.level, 'explicit');
      assert.deepEqual(c.source_ids, []); // Honcho's evidence: an explicit conclusion has no premises
      assert.equal(c.observer_id, 'alice');
      assert.match(c.content, /FACT-/);
    }
    assert.ok(withEvidence.evidence.conclusions.length >= 3);
    inHonchoOrder(withEvidence.evidence.conclusions);
    assert.ok(withEvidence.evidence.messages.length >= 1);
    inHonchoOrder(withEvidence.evidence.messages);
    assert.deepEqual(withEvidence.evidence.tool_calls, []);
    assert.equal(withEvidence.evidence.reasoning_trace_id, null);
    const confined = await alice.chat('What happened?', { sessions: [s2] });
    assert.match(confined, /FACT-parrot/);
    assert.doesNotMatch(confined, /FACT-bees|FACT-beekeeper/);
    const aboutBob = await alice.chat('What does bob play?', { target: bob });
    assert.match(aboutBob, /FACT-cello/);
    const stream = await alice.chatStream('What are my hobbies?', { includeEvidence: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 1);
    assert.equal(chunks.join(''), plain);
    assert.ok(stream.evidence.conclusions.some((c) => c.id === state.conclusions[0].id));
    inHonchoOrder(stream.evidence.conclusions);
    const again = await alice.chatStream('What are my hobbies?');
    assert.equal(await again.getFinalResponse(), plain);
  });

step('chat with a response format', ['peer.chat responseFormat (zod)', 'honcho.chat responseFormat'], async () => {
  const { alice } = state;
  const typed = await alice.chat('Which facts?', { responseFormat: z.object({ seen: z.array(z.string()) }) });
  assert.ok(Array.isArray(typed.seen), JSON.stringify(typed));
  assert.ok(typed.seen.includes('FACT-bees'), JSON.stringify(typed));
  const schema = { type: 'object', properties: { seen: { type: 'array', items: { type: 'string' } } },
    required: ['seen'] };
  const raw = await honcho.chat('Which facts?', { responseFormat: schema });
  const parsed = typeof raw === 'string' ? JSON.parse(raw) : raw;
  assert.ok(parsed.seen.includes('FACT-cello'), JSON.stringify(raw));
});

step('workspace chat: plain, evidence, session, streamed', ['honcho.chat', 'honcho.chatStream'], async () => {
  const plain = await honcho.chat('Who does what?');
  for (const fact of ['FACT-bees', 'FACT-cello', 'FACT-oboe']) assert.match(plain, new RegExp(fact));
  const withEvidence = await honcho.chat('Who plays the cello?', { includeEvidence: true, session: state.s1 });
  assert.match(withEvidence.content, /^seen: /);
  const observed = new Set(withEvidence.evidence.conclusions.map((c) => c.observed_id));
  assert.ok(observed.has('bob') && observed.has('alice'), [...observed].join());
  assert.ok(withEvidence.evidence.messages.every((m) => m.session_id === 's1'));
  inHonchoOrder(withEvidence.evidence.conclusions);
  inHonchoOrder(withEvidence.evidence.messages);
  const stream = await honcho.chatStream('Who does what?');
  assert.equal(await stream.getFinalResponse(), plain);
  await refused(honcho.chat('x', { session: 'no-such-session' }), 404);
});

step('file upload', ['session.uploadFile'], async () => {
  const { s2, alice } = state;
  const md = Buffer.from('# Notes\n\nalice grows tomatoes FACT-tomato\n\nand basil.\n');
  const made = await s2.uploadFile({ filename: 'notes.md', content: md, content_type: 'text/markdown' }, alice,
    { metadata: { source: 'upload' } });
  assert.equal(made.length, 1);
  assert.equal(made[0].peerId, 'alice');
  assert.equal(made[0].sessionId, 's2');
  assert.match(made[0].content, /FACT-tomato/);
  assert.deepEqual(made[0].metadata, { source: 'upload' });
  const json = await s2.uploadFile({ filename: 'data.json', content: Buffer.from('{"a":[1,  2]}'),
    content_type: 'application/json' }, 'bob');
  assert.equal(json[0].content, '{"a": [1, 2]}'); // parsed and dumped again, as Honcho's JSONProcessor does
  assert.equal(json[0].peerId, 'bob');
  assert.equal((await s2.messages()).total, 4);
  await refused(s2.uploadFile({ filename: 'x.bin', content: Buffer.from([0, 1]), content_type: 'image/png' },
    alice), 415);
  assert.equal((await s2.messages()).total, 4);
});

step('dreams', ['honcho.scheduleDream'], async () => {
  const { alice, s1 } = state;
  assert.equal(await honcho.scheduleDream({ observer: alice }), undefined);
  assert.equal(await honcho.scheduleDream({ observer: 'alice', observed: 'bob', session: s1 }), undefined);
  await waitIdle(honcho); // a dream asked for is queued, as Honcho's is: it runs once the worker gets to it
  // each dream rebuilt that pair's card from its live conclusions, keeping the entries a user set
  // (normalised to the card's labels: 'Plays cello' reads 'ATTRIBUTE: Plays cello')
  const ofBob = await alice.getCard('bob');
  assert.ok(ofBob.some((e) => /FACT-cello/.test(e)), JSON.stringify(ofBob));
  assert.ok(ofBob.some((e) => /Plays cello/.test(e)), JSON.stringify(ofBob));
  const card = await alice.getCard();
  assert.ok(card.some((e) => /FACT-(bees|oboe|parrot)/.test(e)), JSON.stringify(card));
  assert.ok(card.some((e) => /Lives in Lisbon/.test(e)), JSON.stringify(card));
  assert.ok(!card.some((e) => /FACT-rain/.test(e)), 'a deleted conclusion stays off the card');
  await refused(honcho.scheduleDream({ observer: 'nobody' }), 404);
});

step('options: creation with peers and config, tuples, message config, context and queue options',
  ['honcho.session peers+configuration', 'honcho.peer configuration', 'session.addPeers tuple',
    'message configuration', 'session.context sessions/limitToSession/peerPerspective/representationOptions',
    'peer.context target/searchQuery', 'peer.chat reasoningLevel', 'honcho.queueStatus observer/sender/session',
    'conclusions.list filters', 'honcho.conclusions.list filters', 'Page.get/toArray', 'honcho.peers reverse'],
  async () => {
    const { alice, bob, s1, s2 } = state;
    const dave = await honcho.peer('dave', { configuration: { observeMe: false }, metadata: { n: 4 } });
    assert.equal((await dave.getConfiguration()).observeMe, false);
    const s3 = await honcho.session('s3', { metadata: { topic: 'music' }, configuration: { summary: { enabled: false } },
      peers: ['alice', ['dave', { observeOthers: true, observeMe: false }]] });
    assert.deepEqual((await s3.peers()).map((p) => p.id).sort(), ['alice', 'dave']);
    assert.equal((await s3.getPeerConfiguration(dave)).observeOthers, true);
    await s3.addPeers([[bob, { observeMe: false }]]);
    assert.equal((await s3.getPeerConfiguration('bob')).observeMe, false);
    const [quiet] = await s3.addMessages(alice.message('no reasoning on this one FACT-quiet',
      { configuration: { reasoning: { enabled: false } } }));
    assert.equal(quiet.content, 'no reasoning on this one FACT-quiet');
    const viaS2 = await s1.context({ peerTarget: alice, sessions: [s1, s2] });
    assert.match(viaS2.peerRepresentation, /FACT-parrot/);
    assert.equal(viaS2.peerCard, null); // a session allowlist leaves the card out, as in Honcho
    const limited = await s1.context({ peerTarget: alice, limitToSession: true });
    assert.match(limited.peerRepresentation, /FACT-bees/);
    assert.doesNotMatch(limited.peerRepresentation, /FACT-parrot/);
    const perspective = await s1.context({ peerTarget: bob, peerPerspective: alice,
      representationOptions: { searchQuery: 'cello', searchTopK: 3, maxConclusions: 5 } });
    assert.match(perspective.peerRepresentation, /FACT-cello/);
    assert.deepEqual(perspective.peerCard, await alice.getCard(bob));
    await refused(s1.context({ peerTarget: alice, sessions: [s2] }), 422); // must include the session itself
    const pc = await alice.context({ target: bob, searchQuery: 'cello' });
    assert.equal(pc.targetId, 'bob');
    assert.match(pc.representation, /FACT-cello/);
    assert.deepEqual(pc.peerCard, await alice.getCard(bob));
    const deep = await alice.chat('What are my hobbies?', { reasoningLevel: 'max' });
    assert.match(deep, /FACT-oboe/);
    const q = await honcho.queueStatus({ observer: alice, sender: bob, session: s1 });
    assert.equal(q.pendingWorkUnits, 0);
    const some = await alice.conclusions.list({ filters: { level: 'explicit', id: { in: [state.conclusions[2].id] } } });
    assert.deepEqual(some.items.map((c) => c.content), ['alice adopted a parrot FACT-parrot']);
    assert.equal((await alice.conclusions.list({ filters: { level: 'deductive' } })).total, 0);
    const aboutBob = await honcho.conclusions.list({ filters: { observed_id: 'bob' } });
    assert.deepEqual(aboutBob.items.map((c) => c.content), ['bob plays the cello FACT-cello']);
    const page = await honcho.peers({ reverse: true });
    assert.equal(page.get(0).id, 'dave');
    assert.deepEqual((await page.toArray()).map((p) => p.id), ['dave', 'carol', 'bob', 'alice']);
  });

step('more options: chat session, search filters, ranges, query distance, upload timestamp, dream config',
  ['peer.chat session', 'honcho.chatStream includeEvidence', 'honcho.search metadata filter',
    'peer.chat responseFormat+includeEvidence', 'session.messages peer_id in', 'honcho.workspaces filters',
    'session.messages created_at range', 'conclusions.query distance/filters', 'peer.representation options',
    'session.uploadFile createdAt/configuration', 'honcho.scheduleDream disabled'], async () => {
    const { alice, s1, s2 } = state;
    const inSession = await alice.chat('What happened here?', { session: s2 });
    assert.match(inSession, /^seen: .*FACT-parrot/);
    const stream = await honcho.chatStream('Who plays the cello?', { includeEvidence: true });
    assert.match(await stream.getFinalResponse(), /FACT-cello/);
    assert.ok(stream.evidence.conclusions.some((c) => c.observed_id === 'bob'));
    const calm = await honcho.search('cello', { filters: { metadata: { mood: 'calm' } } });
    assert.deepEqual(calm.map((m) => m.content), ['I play the cello every evening FACT-cello']);
    const typed = await alice.chat('Which facts?', { responseFormat: z.object({ seen: z.array(z.string()) }),
      includeEvidence: true });
    assert.ok(typed.content.seen.includes('FACT-oboe'), JSON.stringify(typed.content));
    assert.ok(typed.evidence.conclusions.some((c) => c.content === 'alice plays the oboe FACT-oboe'));
    const bobsOnly = await s1.messages({ filters: { peer_id: { in: ['bob'] } } });
    assert.ok(bobsOnly.total === 2 && bobsOnly.items.every((m) => m.peerId === 'bob'));
    assert.deepEqual((await all(await honcho.workspaces({ filters: { metadata: { team: 'ts', run: W } } }))), [W]);
    const old = await s1.messages({ filters: { created_at: { lte: '2024-12-31T00:00:00Z' } } });
    assert.deepEqual(old.items.map((m) => m.content), ['I keep bees on my roof FACT-bees']);
    const recent = await s1.messages({ filters: { created_at: { gte: '2025-01-01T00:00:00Z' } } });
    assert.equal(recent.total, 4);
    const near = await alice.conclusions.query('parrot', 5, 1.0, { session_id: 's2' });
    assert.deepEqual(near.map((c) => c.content), ['alice adopted a parrot FACT-parrot']);
    const few = await alice.representation({ includeMostFrequent: true, maxConclusions: 1 });
    // one conclusion listed (the profile above the list may quote a fact too)
    const listed = few.split('## Explicit Observations')[1] ?? '';
    assert.equal((listed.match(/FACT-/g) ?? []).length, 1, few);
    const [dated] = await s2.uploadFile({ filename: 'old.txt', content: Buffer.from('an old note FACT-note'),
      content_type: 'text/plain' }, alice, { createdAt: '2023-05-06T07:08:09Z', configuration: { reasoning: { enabled: false } } });
    assert.ok(dated.createdAt.startsWith('2023-05-06T07:08:09'), dated.createdAt);
    const other = new Honcho({ baseURL, apiKey, workspaceId: `${W}-nodream`, maxRetries: 0 });
    await other.peer('zed');
    await other.setConfiguration({ dream: { enabled: false } });
    await refused(other.scheduleDream({ observer: 'zed' }), 400);
    await honcho.deleteWorkspace(`${W}-nodream`);
  });

step('scopes: Honcho\'s routes, and reads confined to the member sessions', ['honcho.scope', 'honcho.getScope',
  'honcho.scopes', 'scope on peer.chat', 'scope on honcho.chat', 'scope on honcho.search',
  'scope on peer.representation', 'scope on session.context', 'scopes on honcho.session', 'scope.addSessions',
  'scope.removeSession', 'scope.sessions', 'scope.status'], async () => {
  const { alice, s1, s2 } = state;
  const pets = await honcho.scope('pets', { metadata: { kind: 'animals' } });
  assert.equal(pets.id, 'pets');
  assert.deepEqual((await honcho.getScope('pets')).metadata, { kind: 'animals' });
  await honcho.scope('empty');
  assert.deepEqual((await all(await honcho.scopes())).map((sc) => sc.id), ['pets', 'empty']);
  await pets.addSessions([s2]);
  assert.deepEqual((await all(await pets.sessions())).map((s) => s.id), ['s2']);
  const { backfillStatus } = await pets.status();
  assert.deepEqual(Object.keys(backfillStatus), ['s2']);
  assert.equal(backfillStatus.s2.state, 'completed');
  assert.equal(backfillStatus.s2.docsCopied, 1); // FACT-parrot
  // every read naming the scope sees s2 only
  const rep = await alice.representation({ scope: 'pets' });
  assert.match(rep, /FACT-parrot/);
  assert.doesNotMatch(rep, /FACT-bees|FACT-oboe/);
  assert.doesNotMatch(await alice.representation({ scope: 'empty' }), /FACT-/);
  const answer = await alice.chat('What happened?', { scope: 'pets' });
  assert.match(answer, /FACT-parrot/);
  assert.doesNotMatch(answer, /FACT-bees|FACT-oboe|FACT-beekeeper/);
  const union = await alice.chat('What happened?', { scope: ['pets', 'empty'] });
  assert.match(union, /FACT-parrot/);
  assert.doesNotMatch(union, /FACT-bees/);
  const everyone = await honcho.chat('Who did what?', { scope: 'pets' });
  assert.match(everyone, /FACT-parrot/);
  assert.doesNotMatch(everyone, /FACT-bees|FACT-cello/);
  const hits = await honcho.search('parrot bees cello', { scope: 'pets' });
  assert.ok(hits.length > 0 && hits.every((m) => m.sessionId === 's2'), JSON.stringify(hits));
  assert.deepEqual(await honcho.search('parrot bees cello', { scope: 'empty' }), []);
  const ctx = await s1.context({ scope: 'pets', peerTarget: alice });
  assert.match(ctx.peerRepresentation, /FACT-parrot/);
  assert.doesNotMatch(ctx.peerRepresentation, /FACT-bees/);
  // session create's `scopes`: the scope made if missing, the session a member
  const scoped = await honcho.session('scoped', { scopes: ['fresh'] });
  assert.deepEqual((await all(await (await honcho.getScope('fresh')).sessions())).map((s) => s.id), [scoped.id]);
  await pets.removeSession('s2');
  assert.deepEqual((await all(await pets.sessions())).map((s) => s.id), []);
  assert.doesNotMatch(await alice.representation({ scope: 'pets' }), /FACT-/);
  // refusals: an unknown scope is a 404; a scope beside a session is a 422 (the SDK's typed errors)
  await assert.rejects(honcho.getScope('nowhere'), NotFoundError);
  await assert.rejects(alice.representation({ scope: 'nowhere' }), NotFoundError);
  // (the SDK refuses a scope beside a session itself; the server does too)
  const both = await fetch(`${baseURL}/v3/workspaces/${W}/peers/alice/chat`, { method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ query: 'x', scope: 'pets', session_id: 's1' }) });
  assert.equal(both.status, 422);
  assert.match((await both.json()).detail, /mutually exclusive/);
  await assert.rejects(honcho.session('s1').then((s) => s.getMessage('nope')), NotFoundError);
  await assert.rejects(new Scope('gone', W, honcho.http).status(), HonchoError);
});

step('clone and delete', ['session.clone', 'session.delete', 'honcho.deleteWorkspace'], async () => {
  const { s1 } = state;
  const whole = await s1.clone();
  assert.notEqual(whole.id, 's1');
  assert.deepEqual((await all(await whole.messages())).map((m) => m.content),
    state.s1Messages.map((m) => m.content));
  const upTo = await s1.clone(state.s1Messages[1].id);
  assert.deepEqual((await all(await upTo.messages())).map((m) => m.content),
    state.s1Messages.slice(0, 2).map((m) => m.content));
  await upTo.delete();
  const left = (await all(await honcho.sessions())).map((s) => s.id);
  assert.ok(!left.includes(upTo.id));
  assert.ok(left.includes(whole.id));
  const other = new Honcho({ baseURL, apiKey, workspaceId: `${W}-gone`, maxRetries: 0 });
  await other.peer('temp');
  assert.ok((await all(await honcho.workspaces())).includes(`${W}-gone`));
  await honcho.deleteWorkspace(`${W}-gone`);
  assert.ok(!(await all(await honcho.workspaces())).includes(`${W}-gone`));
  // as in Honcho: a workspace that still has active sessions is not deleted (409)
  await refused(honcho.deleteWorkspace(W), 409, /active session/);
  assert.ok((await all(await honcho.workspaces())).includes(W));
});

let failed = 0;
for (const { name, calls, fn } of steps) {
  try {
    await fn();
    calls.forEach((c) => covered.add(c));
    console.log(`pass  ${name} (${calls.length} calls)`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL  ${name}: ${err.stack ?? err}`);
  }
}
if (failed) {
  console.log(`failed: ${failed} of ${steps.length} steps`);
  process.exit(1);
}
console.log(`ok: ${steps.length} steps, ${covered.size} SDK calls checked`);
