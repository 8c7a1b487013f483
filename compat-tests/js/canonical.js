'use strict'
// The canonical record set of ../README.md, the checks every scenario needs and the
// contract with run.py (environment, client-version line, exit status), shared by the
// JavaScript scenario programs that are not kafkajs (@platformatic/kafka,
// @confluentinc/kafka-javascript). A client adapts its messages to
// { key, value, headers: [[name, Buffer], ...] } (null for a null key or value) and hands
// them to checkRecord.

const readline = require('readline')

const PARTITIONS = 3
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
const UNSUPPORTED = 77
// Longer than any scenario program's fetch wait (fetch.max.wait / maxWaitTime: 200 ms).
const FETCH_DRAIN_MS = 1000

function canonicalRecord(i) {
  const tail = Buffer.from(Array.from({ length: i % 50 }, (_, j) => (i + j) % 256))
  return {
    i,
    key: i % 10 === 0 ? null : Buffer.from(`key-${i}`),
    value: i % 10 === 5 ? null : Buffer.concat([Buffer.from(`value-${i}-`), tail]),
    headers:
      i % 4 === 0
        ? []
        : [
            ['h-index', Buffer.from(String(i))],
            ['h-bin', Buffer.from([i % 256, 0x00, 0xff])],
          ],
    partition: i % PARTITIONS,
  }
}

// partition -> the canonical records 0..count-1 it must hold, in order.
function expectedByPartition(count) {
  const expected = Array.from({ length: PARTITIONS }, () => [])
  for (let i = 0; i < count; i++) expected[i % PARTITIONS].push(canonicalRecord(i))
  return expected
}

function show(buffer) {
  return buffer === null ? 'null' : `<${buffer.toString('hex')}>`
}

function sameBytes(got, want) {
  if (want === null) return got === null
  return Buffer.isBuffer(got) && got.equals(want)
}

// Throws naming the first difference between a consumed record and the canonical one.
function checkRecord(where, got, want) {
  if (!sameBytes(got.key, want.key)) {
    throw new Error(`${where}: key ${show(got.key)}, expected ${show(want.key)}`)
  }
  if (!sameBytes(got.value, want.value)) {
    throw new Error(`${where}: value ${show(got.value)}, expected ${show(want.value)}`)
  }
  const same =
    got.headers.length === want.headers.length &&
    got.headers.every(
      ([key, value], n) => key === want.headers[n][0] && sameBytes(value, want.headers[n][1])
    )
  if (!same) {
    const render = pairs => pairs.map(([k, v]) => `${k}=${show(v)}`)
    throw new Error(
      `${where}: headers [${render(got.headers)}], expected [${render(want.headers)}]`
    )
  }
}

// Checks partition p's consumed records (in order, with their offsets as numbers or
// strings or bigints) against the canonical ones.
function checkPartitions(topic, got, expected) {
  expected.forEach((want, p) => {
    if (got[p].length !== want.length) {
      throw new Error(`${topic} partition ${p}: ${got[p].length} records, expected ${want.length}`)
    }
    got[p].forEach((record, n) => {
      const where = `${topic} partition ${p} offset ${record.offset} (record ${want[n].i})`
      if (String(record.offset) !== String(n)) throw new Error(`${where}: expected offset ${n}`)
      checkRecord(where, record, want[n])
    })
  })
}

// Hands canonical records first..count-1 to `send(records)`, `chunk` at a time, in order.
async function sendCanonical(count, chunk, send, first = 0) {
  for (let start = first; start < count; start += chunk) {
    const records = []
    for (let i = start; i < Math.min(count, start + chunk); i++) records.push(canonicalRecord(i))
    await send(records)
  }
}

// Scenario 7: `produce(topic, count)` creates the topic and writes canonical records
// 0..count-1 to it, uncompressed; `verify(topic, count)` reads them back and checks them.
async function mixedScenario({ mode, topic }, { produce, verify }) {
  const count = 1000
  if (mode === 'produce') {
    await produce(topic, count)
    console.log(`produced ${count} records to ${topic}`)
  } else {
    await verify(topic, count)
    console.log(`verified ${count} records in ${topic}`)
  }
}

const HANDOVER_RECORDS = 2000 // scenario 8: half before the leader stops, half after

// Scenario 8 (../handover.py runs it): `produce(first, end)` sends canonical records
// first..end-1 with acks=all, through the same producer both times, and resolves once every
// one is acknowledged; `verify(count)` reads every partition from the beginning and checks
// records 0..count-1 (as scenario 2).
async function handoverScenario({ produce, verify }) {
  const half = HANDOVER_RECORDS / 2
  await produce(0, half)
  console.log(`records 0..${half - 1} acknowledged`)
  console.log('handover: ready')
  const line = await readLine()
  if (line !== 'go') throw new Error(`expected 'go' on stdin after the hand-over, got ${line}`)
  await produce(half, HANDOVER_RECORDS)
  console.log(`records ${half}..${HANDOVER_RECORDS - 1} acknowledged after the hand-over`)
  await verify(HANDOVER_RECORDS)
  console.log(`${HANDOVER_RECORDS} records read back exactly once, in order`)
}

// The next line on stdin without its end, or null at the end of input.
function readLine() {
  return new Promise(resolve => {
    const input = readline.createInterface({ input: process.stdin })
    input.once('line', line => {
      resolve(line.trim()) // before close(), whose event resolves to null
      input.close()
    })
    input.once('close', () => resolve(null))
  })
}

// Scenario 9: three transactions of 30 canonical records each.
const TRANSACTIONS = [
  { first: 0, end: 30, commit: true },
  { first: 30, end: 60, commit: false },
  { first: 60, end: 90, commit: true },
]
const TXN_GROUP_OFFSET = 10 // what transaction C commits for s9-group, on every partition

// Scenario 9's names: { topic, group, transactionalId }.
function transactionNames(client) {
  return {
    topic: named('s9-txn'),
    group: named('s9-group'),
    transactionalId: named(`s9-${client}`),
  }
}

// Where canonical record i of scenario 9 lands in its partition: each transaction puts 10
// records in every partition, then its COMMIT or ABORT marker takes one offset.
function transactionalOffset(i) {
  const perPartition = TRANSACTIONS[0].end / PARTITIONS
  return Math.floor(i / 30) * (perPartition + 1) + Math.floor((i % 30) / PARTITIONS)
}

// partition -> the records a read_committed (or read_uncommitted) reader must get.
function expectedTransactional(readCommitted) {
  const expected = Array.from({ length: PARTITIONS }, () => [])
  for (const { first, end, commit } of TRANSACTIONS) {
    if (!commit && readCommitted) continue
    for (let i = first; i < end; i++) expected[i % PARTITIONS].push(canonicalRecord(i))
  }
  return expected
}

// got: partition -> [{ offset, key, value, headers }] read from the beginning to the end:
// exactly the committed records (or all 90), each once, in order, at the offsets Kafka
// gives them, with no control record among them.
function checkTransactionalRead(got, readCommitted) {
  const level = readCommitted ? 'read_committed' : 'read_uncommitted'
  expectedTransactional(readCommitted).forEach((want, p) => {
    const records = got[p] || []
    const offsets = records.map(r => String(r.offset))
    const wantOffsets = want.map(r => String(transactionalOffset(r.i)))
    if (offsets.join() !== wantOffsets.join()) {
      throw new Error(`${level} partition ${p}: offsets [${offsets}], expected [${wantOffsets}]`)
    }
    records.forEach((record, n) =>
      checkRecord(
        `${level} partition ${p} offset ${record.offset} (record ${want[n].i})`,
        record,
        want[n]
      )
    )
  })
  console.log(`${level}: ${got.reduce((sum, r) => sum + r.length, 0)} records, the right ones`)
}

// Scenario 9, for a client that provides
//   runTransaction(first, end, commit, offsets): sends canonical records first..end-1 in one
//     transaction, with `offsets` (partition -> offset, or null) committed for s9-group
//     inside it, and commits or aborts it;
//   read(readCommitted): partition -> [{ offset, key, value, headers }] from the beginning
//     to the end (null: the client cannot choose that isolation level);
//   committedOffsets(): s9-group's, as partition -> offset;
//   fence(): initializes a second producer with the same transactional.id, runs one more
//     transaction on the first, checks it failed with the client's fenced error and
//     returns that error as text.
// Resolves to what the client could not do (for `partial:`).
async function transactionScenario({ runTransaction, read, committedOffsets, fence }) {
  const lacks = []
  for (const { first, end, commit } of TRANSACTIONS) {
    const offsets = first === 60 ? Array.from({ length: PARTITIONS }, () => TXN_GROUP_OFFSET) : null
    await runTransaction(first, end, commit, offsets)
    const what = commit ? 'committed' : 'aborted'
    console.log(
      `records ${first}..${end - 1} ${what}${offsets ? ` with offsets [${offsets}]` : ''}`
    )
  }
  for (const readCommitted of [true, false]) {
    const got = await read(readCommitted)
    if (got === null)
      lacks.push(`no ${readCommitted ? 'read_committed' : 'read_uncommitted'} consumer`)
    else checkTransactionalRead(got, readCommitted)
  }
  const committed = (await committedOffsets()).map(String)
  if (committed.join() !== Array(PARTITIONS).fill(String(TXN_GROUP_OFFSET)).join()) {
    throw new Error(
      `s9-group's committed offsets [${committed}], expected ${TXN_GROUP_OFFSET} on every partition`
    )
  }
  console.log(`s9-group committed offsets: [${committed}]`)
  console.log(`fenced: ${await fence()}`)
  return lacks
}

// Collects consumed records by partition until partition p has counts[p] of them. `done`
// resolves to them then; it rejects on a record from an unexpected partition, on one too
// many, on `fail(error)` and after `timeoutMs`.
function collector(topic, counts, timeoutMs = 30000) {
  const got = counts.map(() => [])
  let resolve, reject
  const done = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  const timer = setTimeout(
    () =>
      reject(
        new Error(`${topic}: timed out with [${got.map(g => g.length)}] of [${counts}] records`)
      ),
    timeoutMs
  )
  done.then(
    () => clearTimeout(timer),
    () => clearTimeout(timer)
  )
  const add = (partition, record) => {
    if (!got[partition])
      return reject(new Error(`${topic}: records from unexpected partition ${partition}`))
    got[partition].push(record)
    if (got[partition].length > counts[partition]) {
      reject(
        new Error(
          `${topic} partition ${partition}: ${got[partition].length} records, expected ${counts[partition]}`
        )
      )
    } else if (got.every((g, p) => g.length === counts[p])) {
      resolve(got)
    }
  }
  return { add, done, fail: reject }
}

// Consumes canonical records 0..count-1 with `consume(topic, counts)` (-> records by
// partition) and checks every byte, partition, order and offset, and with
// `highWatermarks(topic)` (-> one per partition) that nothing lies beyond them.
async function verifyCanonical(topic, count, { consume, highWatermarks }) {
  const expected = expectedByPartition(count)
  const got = await consume(
    topic,
    expected.map(e => e.length)
  )
  checkPartitions(topic, got, expected)
  const ends = await highWatermarks(topic)
  ends.forEach((end, p) => {
    if (String(end) !== String(expected[p].length)) {
      throw new Error(
        `${topic} partition ${p}: high watermark ${end}, expected ${expected[p].length}`
      )
    }
  })
}

// Scenario 4 for a client that provides
//   produce(indexes): sends, for each i, key `k-<i>` and value `s4-<i>` to partition
//     i % partitions, acks=all;
//   startMember(name, deliver): joins group `s4-group` on topic `s4-group` (earliest, no
//     auto-commit), calls deliver(value) for each record and commits it synchronously
//     before the next; resolves to { assignment() -> partitions owned now, close() }.
async function groupScenario({ partitions, produce, startMember }) {
  const deliveries = new Map() // value -> the members it was delivered to
  let produced = 0
  const produceNext = async n => {
    await produce(Array.from({ length: n }, (_, k) => produced + k))
    produced += n
  }
  const start = async name => {
    const member = { name, received: 0 }
    Object.assign(
      member,
      await startMember(name, value => {
        deliveries.set(value, [...(deliveries.get(value) || []), name])
        member.received++
      })
    )
    return member
  }
  // Settled when the members' current assignments split all partitions between them.
  const settled = members => () => {
    const owned = members.flatMap(m => m.assignment()).sort((a, b) => a - b)
    return (
      members.every(m => m.assignment().length > 0) &&
      owned.join() === [...Array(partitions).keys()].join()
    )
  }
  // Every record produced so far delivered exactly once, after a grace period so a late
  // duplicate is noticed too.
  const expectAllOnce = async (phase, members) => {
    await waitUntil(
      () => deliveries.size === produced,
      20000,
      `${phase}: ${produced} distinct records`
    )
    await sleep(1000)
    for (let i = 0; i < produced; i++) {
      const to = deliveries.get(`s4-${i}`) || []
      if (to.length !== 1)
        throw new Error(`${phase}: record s4-${i} delivered ${to.length} times (to [${to}])`)
    }
    if (deliveries.size !== produced)
      throw new Error(`${phase}: ${deliveries.size} distinct values, produced ${produced}`)
    console.log(
      `${phase}: ${members.map(m => `${m.name}=[${m.assignment()}]:${m.received}`).join(' ')}`
    )
  }

  // A fetch sent under the previous assignment may still be waiting at the broker when the
  // new one is known, and a client may hand out what it returns (@platformatic/kafka does,
  // for partitions it no longer owns): records are produced once such a fetch has ended.
  const settle = async (members, what) => {
    await waitUntil(settled(members), 30000, what)
    await sleep(FETCH_DRAIN_MS)
  }

  const members = [await start('a'), await start('b'), await start('c')]
  await settle(members, 'three members to share the partitions')
  await produceNext(600)
  await expectAllOnce('three members', members)

  await members[0].close()
  const remaining = members.slice(1)
  await settle(remaining, 'two members to take over all partitions')
  await produceNext(600)
  await expectAllOnce('two members', remaining)

  for (const m of remaining) await m.close()
  await produceNext(300)
  const fresh = await start('d')
  try {
    await expectAllOnce('new member', [fresh])
    if (fresh.received !== 300)
      throw new Error(`new member received ${fresh.received} records, expected 300`)
  } finally {
    await fresh.close()
  }
}

// KEEL_TOPIC_PREFIX is put before every topic and group name a scenario chooses.
function named(name) {
  return `${process.env.KEEL_TOPIC_PREFIX || ''}${name}`
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

async function waitUntil(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

// Awaits `action`, which must fail with Kafka error `expected`: `find(error)` returns the
// error (the one thrown or one inside it) that is it, in the client's terms, or nothing.
// Prints what matched; otherwise rethrows, after printing `errors(error)` (what was there).
async function expectError(what, expected, action, find, errors = e => e.message) {
  try {
    await action()
  } catch (e) {
    const match = find(e)
    if (!match) {
      console.error(`${what}: expected ${expected}, got [${errors(e)}]`)
      throw e
    }
    const detail = match === e ? '' : ` <- ${match.name}: ${match.message}`
    console.log(`${what}: ${e.name}: ${e.message}${detail} (${expected})`)
    return
  }
  throw new Error(`${what}: succeeded, expected ${expected}`)
}

// Thrown by a scenario the client cannot do at all.
class Unsupported extends Error {}

// Prints the client-version line, runs scenario KEEL_SCENARIO from `scenarios` (1..9 ->
// async function taking the environment) and exits as the contract says. Exits
// explicitly: clients may leave timers behind.
function runScenarios(version, scenarios) {
  console.log(`client-version: ${version}`)
  const env = {
    bootstrap: process.env.KEEL_BOOTSTRAP,
    scenario: process.env.KEEL_SCENARIO,
    mode: process.env.KEEL_MODE,
    topic: process.env.KEEL_TOPIC,
  }
  const run = async () => {
    const scenario = scenarios[env.scenario]
    if (!scenario) throw new Error(`KEEL_SCENARIO must be 1..9, not ${env.scenario}`)
    if (env.scenario === '7' && !['produce', 'verify'].includes(env.mode)) {
      throw new Error(`KEEL_MODE must be produce or verify, not ${env.mode}`)
    }
    await scenario(env)
  }
  run().then(
    () => process.exit(0),
    error => {
      if (error instanceof Unsupported) {
        console.log(`unsupported: ${error.message}`)
        process.exit(UNSUPPORTED)
      }
      // The whole error (stack, client fields) and, last, the one line run.py reports.
      console.error(error)
      console.error(`${error.name}: ${error.message}`)
      process.exit(1)
    }
  )
}

module.exports = {
  PARTITIONS,
  CODECS,
  canonicalRecord,
  expectedByPartition,
  checkRecord,
  checkPartitions,
  sendCanonical,
  mixedScenario,
  handoverScenario,
  transactionNames,
  transactionScenario,
  collector,
  verifyCanonical,
  groupScenario,
  expectError,
  named,
  sleep,
  waitUntil,
  Unsupported,
  runScenarios,
}
