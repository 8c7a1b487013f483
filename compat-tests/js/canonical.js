'use strict'
// The canonical record set of ../README.md, the checks every scenario needs and the
// contract with run.py (environment, client-version line, exit status), shared by the
// JavaScript scenario programs that are not kafkajs (@platformatic/kafka,
// @confluentinc/kafka-javascript). A client adapts its messages to
// { key, value, headers: [[name, Buffer], ...] } (null for a null key or value) and hands
// them to checkRecord.

const PARTITIONS = 3
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
const UNSUPPORTED = 77

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
    throw new Error(`${where}: headers [${render(got.headers)}], expected [${render(want.headers)}]`)
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
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

// Thrown by a scenario the client cannot do at all.
class Unsupported extends Error {}

// Prints the client-version line, runs scenario KEEL_SCENARIO from `scenarios` (1..7 ->
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
    if (!scenario) throw new Error(`KEEL_SCENARIO must be 1..7, not ${env.scenario}`)
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
  named,
  sleep,
  waitUntil,
  Unsupported,
  runScenarios,
}
