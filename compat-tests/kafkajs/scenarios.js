'use strict'
// keel compatibility scenarios for kafkajs (pure-JS Kafka protocol). The contract with
// run.py, the canonical record set and scenarios 1-9 are defined in ../README.md.

const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs')
const { version: KAFKAJS_VERSION } = require('kafkajs/package.json')
// Scenarios 8 and 9's steps are the same in every JavaScript program.
const { handoverScenario, transactionNames, transactionScenario } = require('../js/canonical.js')

const PARTITIONS = 3
// Every topic name and group id of scenarios 1-6 goes through prefixed(): KEEL_TOPIC_PREFIX
// (optional, default empty) keeps runs that share a broker apart.
const TOPIC_PREFIX = process.env.KEEL_TOPIC_PREFIX || ''
function prefixed(name) {
  return TOPIC_PREFIX + name
}
const SEND_CHUNK = 500 // records per producer.send()
// Scenario 3 sends fewer records at a time: 20 Produce requests, so the proxy gets to drop
// the responses to the 2nd, 5th and 9th.
const IDEMPOTENT_SEND_CHUNK = 100

// Short group timings so joins and rebalances finish quickly against a local broker.
const CONSUMER_TIMING = {
  sessionTimeout: 6000,
  rebalanceTimeout: 10000,
  heartbeatInterval: 1000,
  maxWaitTimeInMs: 200,
  metadataMaxAge: 5000,
}

// Every record is given its partition explicitly; the partitioner only decides the
// warning kafkajs prints when none is chosen.
const createPartitioner = Partitioners.DefaultPartitioner

// kafkajs's log goes to stderr at WARN and above; listeners see every message so a
// scenario can wait for a behaviour kafkajs only reports through its log.
const logListeners = new Set()
function logCreator() {
  return ({ namespace, label, log }) => {
    const { message, timestamp, logger, ...extra } = log
    console.error(`kafkajs ${label} [${namespace}] ${message} ${JSON.stringify(extra)}`)
    for (const listener of logListeners) listener(message)
  }
}

function client(bootstrap) {
  return new Kafka({
    clientId: 'keel-compat-kafkajs',
    brokers: bootstrap.split(','),
    logLevel: logLevel.WARN,
    logCreator,
  })
}

// ---------------------------------------------------------------------------------------
// The canonical record set.

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

// kafkajs takes and returns headers as an object. Its encoder writes Object.keys() order
// and its decoder builds the object in wire order, turning a repeated key into an array,
// so ordered pairs survive exactly when keys are distinct and not integer-like (JS orders
// integer keys first). The canonical headers `h-index`, `h-bin` are such pairs.
function toMessage(record) {
  return {
    key: record.key,
    value: record.value,
    headers: Object.fromEntries(record.headers),
    partition: record.partition,
  }
}

function show(buffer) {
  return buffer === null ? 'null' : `<${buffer.toString('hex')}>`
}

function sameBytes(got, want) {
  if (want === null) return got === null
  return Buffer.isBuffer(got) && got.equals(want)
}

// Checks one consumed kafkajs message against the canonical record it must be.
function checkRecord(where, message, want) {
  if (!sameBytes(message.key, want.key)) {
    throw new Error(`${where}: key ${show(message.key)}, expected ${show(want.key)}`)
  }
  if (!sameBytes(message.value, want.value)) {
    throw new Error(`${where}: value ${show(message.value)}, expected ${show(want.value)}`)
  }
  const got = Object.entries(message.headers || {})
  const same =
    got.length === want.headers.length &&
    got.every(
      ([key, value], n) => key === want.headers[n][0] && sameBytes(value, want.headers[n][1])
    )
  if (!same) {
    const render = pairs =>
      pairs.map(([k, v]) => `${k}=${Array.isArray(v) ? v.map(show) : show(v)}`)
    throw new Error(`${where}: headers [${render(got)}], expected [${render(want.headers)}]`)
  }
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the scenarios.

async function withClient(factory, body) {
  const handle = factory()
  await handle.connect()
  try {
    return await body(handle)
  } finally {
    await handle.disconnect()
  }
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

// configEntries: topic-level configs, as [{ name, value }].
async function createTopic(admin, topic, numPartitions, configEntries = []) {
  await admin.createTopics({
    topics: [{ topic, numPartitions, configEntries }],
    waitForLeaders: true,
  })
}

async function produceCanonical(
  producer,
  topic,
  count,
  compression,
  chunk = SEND_CHUNK,
  first = 0
) {
  for (let start = first; start < count; start += chunk) {
    const messages = []
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      messages.push(toMessage(canonicalRecord(i)))
    }
    await producer.send({ topic, compression, acks: -1, messages })
  }
}

// Reads partitions 0..counts.length-1 of `topic` from the beginning with a fresh group
// until partition p has counts[p] messages; more than that is an error. `options`: the
// consumer's own (readUncommitted).
async function consumeFromBeginning(kafka, topic, counts, timeoutMs = 30000, options = {}) {
  const got = counts.map(() => [])
  const groupId = prefixed(`kafkajs-read-${topic}-${process.pid}-${Date.now()}`)
  return withClient(
    () => kafka.consumer({ groupId, ...CONSUMER_TIMING, ...options }),
    async consumer => {
      await consumer.subscribe({ topic, fromBeginning: true })
      let timer
      const complete = new Promise((resolve, reject) => {
        const fail = message => reject(new Error(`${topic}: ${message}`))
        timer = setTimeout(
          () => fail(`timed out with [${got.map(g => g.length)}] of [${counts}] records`),
          timeoutMs
        )
        const eachBatch = async ({ batch }) => {
          const { partition, messages } = batch
          if (!got[partition]) return fail(`records from unexpected partition ${partition}`)
          got[partition].push(...messages)
          if (got[partition].length > counts[partition]) {
            fail(
              `partition ${partition}: ${got[partition].length} records, expected ${counts[partition]}`
            )
          } else if (got.every((g, p) => g.length === counts[p])) {
            resolve()
          }
        }
        consumer.run({ autoCommit: false, eachBatch }).catch(reject)
      })
      try {
        await complete
      } finally {
        clearTimeout(timer)
      }
      return got
    }
  )
}

// Consumes canonical records 0..count-1 from `topic` and checks every byte, partition,
// order and offset, and that each partition's log holds nothing beyond them.
async function verifyCanonical(kafka, topic, count) {
  const expected = Array.from({ length: PARTITIONS }, () => [])
  for (let i = 0; i < count; i++) expected[i % PARTITIONS].push(canonicalRecord(i))

  const got = await consumeFromBeginning(
    kafka,
    topic,
    expected.map(e => e.length)
  )
  got.forEach((messages, p) =>
    messages.forEach((message, n) => {
      const where = `${topic} partition ${p} offset ${message.offset} (record ${expected[p][n].i})`
      if (message.offset !== String(n)) throw new Error(`${where}: expected offset ${n}`)
      checkRecord(where, message, expected[p][n])
    })
  )

  const offsets = await withClient(
    () => kafka.admin(),
    admin => admin.fetchTopicOffsets(topic)
  )
  for (const { partition, high } of offsets) {
    if (high !== String(expected[partition].length)) {
      throw new Error(
        `${topic} partition ${partition}: high watermark ${high}, expected ${expected[partition].length}`
      )
    }
  }
}

// Awaits `action`, which must fail with a kafkajs error of protocol error `type` (the
// error itself, one in its cause chain or, for an aggregate error, one of its errors).
async function expectError(what, type, action) {
  try {
    await action()
  } catch (e) {
    const match = protocolErrors(e).find(error => error.type === type)
    if (!match) {
      console.error(
        `${what}: expected ${type}, got [${protocolErrors(e).map(error => error.type)}]`
      )
      throw e
    }
    const detail = match === e ? '' : ` <- ${match.name}: ${match.message}`
    console.log(`${what}: ${e.name}: ${e.message}${detail} (${type})`)
    return
  }
  throw new Error(`${what}: succeeded, expected ${type}`)
}

function protocolErrors(e) {
  const errors = []
  for (let error = e; error; error = error.cause) {
    if (error.type) errors.push(error)
    for (const inner of error.errors || []) errors.push(...protocolErrors(inner))
  }
  return errors
}

// ---------------------------------------------------------------------------------------
// Scenarios.

async function scenarioAdmin(kafka) {
  const topic = prefixed('s1-admin')
  await withClient(
    () => kafka.admin(),
    async admin => {
      const cluster = await admin.describeCluster()
      if (cluster.brokers.length === 0) throw new Error('metadata lists no brokers')
      const nodeIds = cluster.brokers.map(b => b.nodeId)
      console.log(
        `cluster ${cluster.clusterId}: brokers [${nodeIds}], controller ${cluster.controller}`
      )

      if (!(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }))) {
        throw new Error(`createTopics(${topic}) reported that the topic already exists`)
      }
      if (!(await admin.listTopics()).includes(topic))
        throw new Error(`${topic} missing from listTopics after create`)

      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
      const partitions = topics[0].partitions
      if (topics.length !== 1 || topics[0].name !== topic || partitions.length !== 3) {
        throw new Error(`describe ${topic}: ${JSON.stringify(topics)}`)
      }
      for (const p of partitions) {
        if (p.partitionErrorCode !== 0 || !nodeIds.includes(p.leader)) {
          throw new Error(
            `${topic} partition ${p.partitionId}: error ${p.partitionErrorCode}, leader ${p.leader}`
          )
        }
      }

      await admin.deleteTopics({ topics: [topic] })
      if ((await admin.listTopics()).includes(topic))
        throw new Error(`${topic} still listed after delete`)
    }
  )
}

async function scenarioCodecs(kafka) {
  const count = 10000
  // kafkajs registers only gzip; the others need third-party codec packages.
  const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }
  for (const codec of ['snappy', 'lz4', 'zstd']) {
    console.log(
      `skipped codec: ${codec}: kafkajs ${KAFKAJS_VERSION} ships only gzip (snappy/lz4/zstd need third-party codec packages)`
    )
  }
  for (const [codec, compression] of Object.entries(codecs)) {
    const topic = prefixed(`s2-${codec}`)
    await withClient(
      () => kafka.admin(),
      admin => createTopic(admin, topic, PARTITIONS)
    )
    await withClient(
      () => kafka.producer({ createPartitioner }),
      producer => produceCanonical(producer, topic, count, compression)
    )
    await verifyCanonical(kafka, topic, count)
    console.log(`${codec}: ${count} records round-tripped`)
  }
}

async function scenarioIdempotence(kafka) {
  const topic = prefixed('s3-idempotent')
  const count = 2000
  await withClient(
    () => kafka.admin(),
    admin => createTopic(admin, topic, PARTITIONS)
  )
  // One request in flight, as kafkajs requires for its idempotent producer.
  await withClient(
    () => kafka.producer({ createPartitioner, idempotent: true, maxInFlightRequests: 1 }),
    producer =>
      produceCanonical(producer, topic, count, CompressionTypes.None, IDEMPOTENT_SEND_CHUNK)
  )
  await verifyCanonical(kafka, topic, count)
  console.log(`${count} records, each exactly once`)
}

async function scenarioGroup(kafka) {
  const topic = prefixed('s4-group')
  const groupId = prefixed('s4-group')
  const partitions = 6
  const deliveries = new Map() // value -> times delivered to any member
  let produced = 0

  await withClient(
    () => kafka.admin(),
    admin => createTopic(admin, topic, partitions)
  )
  const producer = kafka.producer({ createPartitioner })
  await producer.connect()
  const produce = async n => {
    const messages = []
    for (let i = produced; i < produced + n; i++) {
      messages.push({ key: `k-${i}`, value: `s4-${i}`, partition: i % partitions })
    }
    await producer.send({ topic, acks: -1, messages })
    produced += n
  }

  // A member commits each record's offset synchronously before taking the next one.
  const startMember = async name => {
    const member = { name, assignment: [], received: 0 }
    member.consumer = kafka.consumer({ groupId, ...CONSUMER_TIMING })
    member.consumer.on(member.consumer.events.GROUP_JOIN, ({ payload }) => {
      member.assignment = payload.memberAssignment[topic] || []
    })
    await member.consumer.connect()
    await member.consumer.subscribe({ topic, fromBeginning: true })
    await member.consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const value = message.value.toString()
        deliveries.set(value, (deliveries.get(value) || 0) + 1)
        member.received++
        const next = (BigInt(message.offset) + 1n).toString()
        await member.consumer.commitOffsets([{ topic, partition, offset: next }])
      },
    })
    return member
  }

  // The group is settled when the members' latest assignments split all partitions.
  const settled = members => () => {
    const owned = members.flatMap(m => m.assignment).sort((a, b) => a - b)
    return (
      members.every(m => m.assignment.length > 0) &&
      owned.join() === [...Array(partitions).keys()].join()
    )
  }

  // Every record produced so far was delivered exactly once; waits a grace period so a
  // late duplicate is noticed too.
  const expectAllOnce = async phase => {
    await waitUntil(
      () => deliveries.size === produced,
      20000,
      `${phase}: ${produced} distinct records`
    )
    await sleep(1000)
    for (let i = 0; i < produced; i++) {
      const times = deliveries.get(`s4-${i}`) || 0
      if (times !== 1) throw new Error(`${phase}: record s4-${i} delivered ${times} times`)
    }
    if (deliveries.size !== produced)
      throw new Error(`${phase}: ${deliveries.size} distinct values, produced ${produced}`)
  }

  const describe = members =>
    members.map(m => `${m.name}=[${m.assignment}]:${m.received}`).join(' ')
  try {
    const members = [await startMember('a'), await startMember('b'), await startMember('c')]
    await waitUntil(settled(members), 30000, 'three members to share the partitions')
    await produce(600)
    await expectAllOnce('three members')
    console.log(`three members: ${describe(members)}`)

    await members[0].consumer.disconnect()
    const remaining = members.slice(1)
    await waitUntil(settled(remaining), 30000, 'two members to take over all partitions')
    await produce(600)
    await expectAllOnce('two members')
    console.log(`two members: ${describe(remaining)}`)

    for (const m of remaining) await m.consumer.disconnect()
    await produce(300)
    const fresh = await startMember('d')
    try {
      await expectAllOnce('new member')
      console.log(`new member: ${describe([fresh])}`)
      if (fresh.received !== 300)
        throw new Error(`new member received ${fresh.received} records, expected 300`)
    } finally {
      await fresh.consumer.disconnect()
    }
  } finally {
    await producer.disconnect()
  }
}

async function scenarioSeek(kafka) {
  const topic = prefixed('s5-seek')
  const t0 = Math.floor((Date.now() - 3600 * 1000) / 1000) * 1000
  await withClient(
    () => kafka.admin(),
    admin => createTopic(admin, topic, 1)
  )
  const producer = kafka.producer({ createPartitioner })
  await producer.connect()
  try {
    const messages = Array.from({ length: 100 }, (_, i) => ({
      value: `s5-${i}`,
      partition: 0,
      timestamp: String(t0 + i * 1000),
    }))
    await producer.send({ topic, acks: -1, messages })

    await withClient(
      () => kafka.admin(),
      async admin => {
        const [byTime] = await admin.fetchTopicOffsetsByTimestamp(topic, t0 + 30500)
        if (byTime.offset !== '31')
          throw new Error(`offset for time T0+30500: ${byTime.offset}, expected 31`)
        const [{ low, high }] = await admin.fetchTopicOffsets(topic)
        if (low !== '0' || high !== '100')
          throw new Error(`earliest ${low}, latest ${high}; expected 0 and 100`)
      }
    )

    const atFifty = await firstRecordAfterSeek(kafka, topic, { fromBeginning: true, seekTo: 50 })
    if (
      atFifty.offset !== '50' ||
      atFifty.value.toString() !== 's5-50' ||
      atFifty.timestamp !== String(t0 + 50000)
    ) {
      throw new Error(
        `after seek to 50: offset ${atFifty.offset} value ${atFifty.value} timestamp ${atFifty.timestamp}`
      )
    }

    // kafkajs has no auto.offset.reset=none: on OFFSET_OUT_OF_RANGE its consumer always
    // resets to the subscription's fromBeginning choice
    // (ConsumerGroup#recoverFromOffsetOutOfRange commits -2 or -1 and resolves it again).
    console.log(
      `no reset mode "none" in kafkajs ${KAFKAJS_VERSION}: out-of-range checked with earliest and latest only`
    )
    const earliest = await firstRecordAfterSeek(kafka, topic, {
      fromBeginning: true,
      seekTo: 1000,
      outOfRange: true,
    })
    if (earliest.offset !== '0')
      throw new Error(`out of range with earliest: read offset ${earliest.offset}, expected 0`)

    const latest = await firstRecordAfterSeek(kafka, topic, {
      fromBeginning: false,
      seekTo: 1000,
      outOfRange: true,
      afterReset: () =>
        producer.send({ topic, acks: -1, messages: [{ value: 's5-100', partition: 0 }] }),
    })
    if (latest.offset !== '100' || latest.value.toString() !== 's5-100') {
      throw new Error(
        `out of range with latest: read offset ${latest.offset} value ${latest.value}, expected 100`
      )
    }
    console.log('seek 50, time lookup 31, earliest 0, latest 100, out-of-range resets: as expected')
  } finally {
    await producer.disconnect()
  }
}

// Starts a fresh group member that seeks partition 0 to `seekTo` before its first fetch
// and returns the first record it is given. For an out-of-range seek, kafkajs must log its
// reset first; afterReset runs once the consumer has looked up the offset it resets to
// (its first ListOffsets after the reset), so a record produced then lies beyond it.
async function firstRecordAfterSeek(
  kafka,
  topic,
  { fromBeginning, seekTo, outOfRange = false, afterReset }
) {
  const groupId = prefixed(`kafkajs-s5-${seekTo}-${fromBeginning ? 'earliest' : 'latest'}`)
  return withClient(
    () => kafka.consumer({ groupId, ...CONSUMER_TIMING }),
    async consumer => {
      let reset = false
      const onLog = message => {
        if (message.startsWith('Offset out of range, resetting to default offset')) reset = true
      }
      logListeners.add(onLog)
      let resetResolved = false
      consumer.on(consumer.events.REQUEST, ({ payload }) => {
        if (reset && payload.apiName === 'ListOffsets') resetResolved = true
      })
      try {
        await consumer.subscribe({ topic, fromBeginning })
        let first
        const running = consumer.run({
          autoCommit: false,
          eachMessage: async ({ message }) => {
            if (!first) first = message
          },
        })
        // Queued now, applied by the first fetch after the group join.
        consumer.seek({ topic, partition: 0, offset: String(seekTo) })
        await running
        if (afterReset) {
          await waitUntil(() => resetResolved, 20000, 'kafkajs to reset the out-of-range offset')
          await afterReset()
        }
        await waitUntil(() => first, 20000, `a record after seeking to ${seekTo}`)
        if (outOfRange && !reset)
          throw new Error(`seek to ${seekTo}: kafkajs never reported an out-of-range reset`)
        return first
      } finally {
        logListeners.delete(onLog)
      }
    }
  )
}

async function scenarioErrors(kafka) {
  const unknownTopic = prefixed('s6-unknown')
  const largeTopic = prefixed('s6-large')
  const partitionsTopic = prefixed('s6-partitions')
  await withClient(
    () =>
      kafka.producer({
        createPartitioner,
        allowAutoTopicCreation: false,
        retry: { retries: 2, initialRetryTime: 100 },
      }),
    producer =>
      expectError('produce to unknown topic', 'UNKNOWN_TOPIC_OR_PARTITION', () =>
        producer.send({ topic: unknownTopic, messages: [{ value: 'x', partition: 0 }] })
      )
  )

  await withClient(
    () => kafka.admin(),
    async admin => {
      // The topic's own limit is below the 200000-byte record below.
      await createTopic(admin, largeTopic, 1, [{ name: 'max.message.bytes', value: '100000' }])
      await expectError('create topic "bad name!"', 'INVALID_TOPIC_EXCEPTION', () =>
        admin.createTopics({ topics: [{ topic: 'bad name!', numPartitions: 1 }] })
      )
      await createTopic(admin, partitionsTopic, 3)
      await expectError(`shrink ${partitionsTopic} to 2 partitions`, 'INVALID_PARTITIONS', () =>
        admin.createPartitions({ topicPartitions: [{ topic: partitionsTopic, count: 2 }] })
      )
    }
  )

  await withClient(
    () => kafka.producer({ createPartitioner, retry: { retries: 2, initialRetryTime: 100 } }),
    producer =>
      expectError('produce a 200000-byte record', 'MESSAGE_TOO_LARGE', () =>
        producer.send({
          topic: largeTopic,
          messages: [{ value: Buffer.alloc(200000, 0x61), partition: 0 }],
        })
      )
  )
}

async function scenarioMixed(kafka, mode, topic) {
  const count = 1000
  if (mode === 'produce') {
    await withClient(
      () => kafka.admin(),
      admin => createTopic(admin, topic, PARTITIONS)
    )
    await withClient(
      () => kafka.producer({ createPartitioner }),
      producer => produceCanonical(producer, topic, count, CompressionTypes.None)
    )
    console.log(`produced ${count} records to ${topic}`)
  } else if (mode === 'verify') {
    await verifyCanonical(kafka, topic, count)
    console.log(`verified ${count} records in ${topic}`)
  } else {
    throw new Error(`KEEL_MODE must be produce or verify, not ${mode}`)
  }
}

// One idempotent acks=all producer across the stop of the leader: kafkajs refreshes its
// metadata and retries on NOT_LEADER_OR_FOLLOWER and on a lost connection.
async function scenarioHandover(kafka, topic) {
  await withClient(
    () => kafka.producer({ createPartitioner, idempotent: true, maxInFlightRequests: 1 }),
    producer =>
      handoverScenario({
        produce: (first, end) =>
          produceCanonical(producer, topic, end, CompressionTypes.None, SEND_CHUNK, first),
        verify: count => verifyCanonical(kafka, topic, count),
      })
  )
}

// Scenario 9. kafkajs initializes a transactional producer (InitProducerId) at its first
// transaction(); its consumers read committed records unless readUncommitted is set.
async function scenarioTransactions(kafka) {
  const { topic, group, transactionalId } = transactionNames('kafkajs')
  await withClient(
    () => kafka.admin(),
    admin => createTopic(admin, topic, PARTITIONS)
  )
  const transactional = () =>
    kafka.producer({ createPartitioner, transactionalId, idempotent: true, maxInFlightRequests: 1 })
  const producer = transactional()
  await producer.connect()
  try {
    await transactionScenario({
      runTransaction: async (first, end, commit, offsets) => {
        const transaction = await producer.transaction()
        const messages = []
        for (let i = first; i < end; i++) messages.push(toMessage(canonicalRecord(i)))
        await transaction.send({ topic, acks: -1, messages })
        if (offsets) {
          await transaction.sendOffsets({
            consumerGroupId: group,
            topics: [
              {
                topic,
                partitions: offsets.map((offset, partition) => ({
                  partition,
                  offset: String(offset),
                })),
              },
            ],
          })
        }
        await (commit ? transaction.commit() : transaction.abort())
      },
      read: async readCommitted => {
        const counts = Array.from({ length: PARTITIONS }, () => (readCommitted ? 20 : 30))
        const got = await consumeFromBeginning(kafka, topic, counts, 30000, {
          readUncommitted: !readCommitted,
        })
        return got.map(messages =>
          messages.map(({ offset, key, value, headers }) => ({
            offset,
            key,
            value,
            headers: Object.entries(headers || {}),
          }))
        )
      },
      committedOffsets: () =>
        withClient(
          () => kafka.admin(),
          async admin => {
            const [{ partitions }] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
            return partitions.sort((a, b) => a.partition - b.partition).map(p => p.offset)
          }
        ),
      fence: async () => {
        await withClient(transactional, async second => {
          // Its first transaction() initializes it: InitProducerId bumps the epoch.
          const transaction = await second.transaction()
          await transaction.abort()
        })
        // kafkajs's transaction requests are all below the versions that carry
        // PRODUCER_FENCED (which it does not know), so Kafka answers INVALID_PRODUCER_EPOCH.
        await expectError(
          "the fenced producer's transaction",
          'INVALID_PRODUCER_EPOCH',
          async () => {
            const transaction = await producer.transaction()
            await transaction.send({ topic, acks: -1, messages: [toMessage(canonicalRecord(90))] })
            await transaction.commit()
          }
        )
        return 'INVALID_PRODUCER_EPOCH'
      },
    })
  } finally {
    await producer.disconnect()
  }
}

async function main() {
  console.log(`client-version: kafkajs ${KAFKAJS_VERSION}`)
  const {
    KEEL_BOOTSTRAP: bootstrap,
    KEEL_SCENARIO: scenario,
    KEEL_MODE: mode,
    KEEL_TOPIC: topic,
  } = process.env
  const kafka = client(bootstrap)
  const scenarios = {
    1: () => scenarioAdmin(kafka),
    2: () => scenarioCodecs(kafka),
    3: () => scenarioIdempotence(kafka),
    4: () => scenarioGroup(kafka),
    5: () => scenarioSeek(kafka),
    6: () => scenarioErrors(kafka),
    7: () => scenarioMixed(kafka, mode, topic),
    8: () => scenarioHandover(kafka, topic),
    9: () => scenarioTransactions(kafka),
  }
  if (!scenarios[scenario]) throw new Error(`KEEL_SCENARIO must be 1..9, not ${scenario}`)
  await scenarios[scenario]()
}

// kafkajs may leave timers behind, so exit explicitly.
main().then(
  () => process.exit(0),
  error => {
    // The whole error (stack, kafkajs fields) and, last, the one line run.py reports.
    console.error(error)
    console.error(`${error.name}: ${error.message}`)
    process.exit(1)
  }
)
