'use strict'
// keel compatibility scenarios for @platformatic/kafka (pure-JS Kafka protocol). The
// contract with run.py, the canonical record set and scenarios 1-9 are defined in
// ../README.md; ../js/canonical.js has what the JavaScript programs share.

const {
  PARTITIONS,
  CODECS,
  sendCanonical,
  mixedScenario,
  handoverScenario,
  transactionNames,
  transactionScenario,
  collector,
  verifyCanonical: verifyWith,
  groupScenario,
  expectError,
  named,
  runScenarios,
} = require('../js/canonical.js')

const SEND_CHUNK = 500 // records per producer.send()
// Scenario 3 sends fewer records at a time: 20 Produce requests, so the proxy gets to drop
// the responses to the 2nd, 5th and 9th.
const IDEMPOTENT_SEND_CHUNK = 100
const ACKS_ALL = -1
const HANDOVER_METADATA_MAX_AGE = 100 // ms: see scenarioHandover
const EARLIEST = -2n
const LATEST = -1n

// Short group timings so joins and rebalances finish quickly against a local broker.
const GROUP_TIMING = { sessionTimeout: 6000, rebalanceTimeout: 10000, heartbeatInterval: 1000 }

// The package's own version: its exports do not include package.json.
const { version: VERSION } = require('./node_modules/@platformatic/kafka/package.json')

let kafka // the package, an ES module
let bootstrap

function options(extra = {}) {
  return {
    clientId: 'keel-compat-platformatic',
    bootstrapBrokers: bootstrap.split(','),
    retries: 5,
    retryDelay: 200,
    ...extra,
  }
}

// Producers and consumers close with force (ending their streams); an admin has no force.
async function withClient(client, body) {
  try {
    return await body(client)
  } finally {
    await (client instanceof kafka.Admin ? client.close() : client.close(true))
  }
}

function toMessage(topic, record) {
  return {
    topic,
    key: record.key,
    value: record.value,
    headers: new Map(record.headers.map(([name, value]) => [Buffer.from(name), value])),
    partition: record.partition,
  }
}

// @platformatic/kafka gives a null key or value as undefined and headers as a Map in wire
// order (header names are distinct in every canonical record).
function fromMessage(message) {
  return {
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers: [...message.headers].map(([name, value]) => [name.toString(), value ?? null]),
  }
}

async function createTopic(topic, partitions) {
  await withClient(new kafka.Admin(options()), admin =>
    admin.createTopics({ topics: [topic], partitions, replicas: 1 })
  )
}

function produceCanonical(producer, topic, count, compression, chunk = SEND_CHUNK, first = 0) {
  return sendCanonical(
    count,
    chunk,
    records =>
      producer.send({
        messages: records.map(r => toMessage(topic, r)),
        acks: ACKS_ALL,
        compression,
      }),
    first
  )
}

// Reads partitions 0..counts.length-1 of `topic` from the beginning with a fresh group
// until partition p has counts[p] messages. `extra`: the consumer's own options.
async function consumeFromBeginning(topic, counts, extra = {}) {
  const groupId = named(`platformatic-read-${topic}-${process.pid}-${Date.now()}`)
  const consumer = new kafka.Consumer(options({ groupId, ...GROUP_TIMING, ...extra }))
  return withClient(consumer, async () => {
    const stream = await consumer.consume({
      topics: [topic],
      mode: kafka.MessagesStreamModes.EARLIEST,
      autocommit: false,
      maxWaitTime: 200,
    })
    const records = collector(topic, counts)
    stream.on('error', records.fail)
    stream.on('data', message => records.add(message.partition, fromMessage(message)))
    return records.done
  })
}

function verifyCanonical(topic, count) {
  return verifyWith(topic, count, {
    consume: consumeFromBeginning,
    highWatermarks: t => listOffsets(t, LATEST),
  })
}

async function listOffsets(topic, timestamp) {
  const groupId = named(`platformatic-offsets-${process.pid}`)
  return withClient(new kafka.Consumer(options({ groupId })), async consumer => {
    const offsets = await consumer.listOffsets({ topics: [topic], timestamp })
    return offsets.get(topic)
  })
}

// The protocol errors (Kafka error names) in an error, its causes and its inner errors.
function protocolErrors(e) {
  const errors = []
  for (let error = e; error; error = error.cause) {
    if (error.apiId) errors.push(error)
    for (const inner of error.errors || []) errors.push(...protocolErrors(inner))
  }
  return errors
}

// Awaits `action`, which must fail with Kafka error `id` somewhere in its error tree, or
// with the client's own equivalent of it (`equivalent(error)` is true).
function expectKafkaError(what, id, action, equivalent = () => false) {
  return expectError(
    what,
    id,
    action,
    e => protocolErrors(e).find(error => error.apiId === id) || (equivalent(e) && e),
    e => protocolErrors(e).map(error => error.apiId)
  )
}

// ---------------------------------------------------------------------------------------
// Scenarios.

async function scenarioAdmin() {
  const topic = named('s1-admin')
  await withClient(new kafka.Admin(options()), async admin => {
    const cluster = await admin.metadata({ topics: [] })
    const nodeIds = [...cluster.brokers.keys()]
    if (nodeIds.length === 0) throw new Error('metadata lists no brokers')
    console.log(`cluster ${cluster.id}: brokers [${nodeIds}], controller ${cluster.controllerId}`)

    const [created] = await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 })
    if (created.name !== topic || created.partitions !== 3) {
      throw new Error(`createTopics(${topic}): ${JSON.stringify(created)}`)
    }
    if (!(await admin.listTopics()).includes(topic)) {
      throw new Error(`${topic} missing from listTopics after create`)
    }

    const described = await admin.metadata({ topics: [topic], forceUpdate: true })
    const partitions = described.topics.get(topic)?.partitions || []
    if (partitions.length !== 3)
      throw new Error(`describe ${topic}: ${partitions.length} partitions`)
    partitions.forEach((p, n) => {
      if (!nodeIds.includes(p.leader))
        throw new Error(`${topic} partition ${n}: leader ${p.leader}`)
    })

    await admin.deleteTopics({ topics: [topic] })
    if ((await admin.listTopics()).includes(topic)) {
      throw new Error(`${topic} still listed after delete`)
    }
  })
}

async function scenarioCodecs() {
  const count = 10000
  for (const codec of CODECS) {
    if (!kafka.compressionsAlgorithms[codec].available) {
      // zstd uses node:zlib's zstd, which Node.js has from 22.15 / 23.8 on.
      console.log(
        `skipped codec: ${codec}: @platformatic/kafka ${VERSION} needs Node.js's zlib zstd (Node.js 22.15+), this is ${process.version}`
      )
      continue
    }
    const topic = named(`s2-${codec}`)
    await createTopic(topic, PARTITIONS)
    await withClient(new kafka.Producer(options()), producer =>
      produceCanonical(producer, topic, count, codec)
    )
    await verifyCanonical(topic, count)
    console.log(`${codec}: ${count} records round-tripped`)
  }
}

async function scenarioIdempotence() {
  const topic = named('s3-idempotent')
  const count = 2000
  await createTopic(topic, PARTITIONS)
  await withClient(new kafka.Producer(options({ idempotent: true })), producer =>
    produceCanonical(producer, topic, count, 'none', IDEMPOTENT_SEND_CHUNK)
  )
  await verifyCanonical(topic, count)
  console.log(`${count} records, each exactly once`)
}

async function scenarioGroup() {
  const topic = named('s4-group')
  const groupId = named('s4-group')
  const partitions = 6
  await createTopic(topic, partitions)
  await withClient(new kafka.Producer(options()), producer =>
    groupScenario({
      partitions,
      produce: indexes =>
        producer.send({
          messages: indexes.map(i => ({
            topic,
            key: Buffer.from(`k-${i}`),
            value: Buffer.from(`s4-${i}`),
            partition: i % partitions,
          })),
          acks: ACKS_ALL,
        }),
      startMember: async (name, deliver) => {
        const consumer = new kafka.Consumer(options({ groupId, ...GROUP_TIMING }))
        const stream = await consumer.consume({
          topics: [topic],
          mode: kafka.MessagesStreamModes.COMMITTED,
          fallbackMode: kafka.MessagesStreamFallbackModes.EARLIEST,
          autocommit: false,
          maxWaitTime: 200,
        })
        // Each record is committed before the next is taken.
        const done = (async () => {
          for await (const message of stream) {
            deliver(message.value.toString())
            await message.commit()
          }
        })()
        return {
          assignment: () =>
            (consumer.assignments || []).flatMap(a => (a.topic === topic ? a.partitions : [])),
          close: async () => {
            await consumer.close(true)
            await done
          },
        }
      },
    })
  )
}

// The first record (or the error) a fresh group member gets when it starts reading
// partition 0 of `topic` at `offset`.
async function firstFromOffset(topic, offset, timeoutMs = 20000) {
  const groupId = named(`platformatic-s5-${offset}-${process.pid}`)
  return withClient(new kafka.Consumer(options({ groupId, ...GROUP_TIMING })), async consumer => {
    const stream = await consumer.consume({
      topics: [topic],
      mode: kafka.MessagesStreamModes.MANUAL,
      offsets: [{ topic, partition: 0, offset: BigInt(offset) }],
      autocommit: false,
      maxWaitTime: 200,
    })
    return new Promise(resolve => {
      const timer = setTimeout(
        () => resolve({ error: new Error(`timed out at offset ${offset}`) }),
        timeoutMs
      )
      stream.once('data', message => {
        clearTimeout(timer)
        resolve({ message })
      })
      stream.once('error', error => {
        clearTimeout(timer)
        resolve({ error })
      })
    })
  })
}

async function scenarioSeek() {
  const topic = named('s5-seek')
  const t0 = Math.floor((Date.now() - 3600 * 1000) / 1000) * 1000
  await createTopic(topic, 1)
  await withClient(new kafka.Producer(options()), producer => {
    const messages = Array.from({ length: 100 }, (_, i) => ({
      topic,
      value: Buffer.from(`s5-${i}`),
      partition: 0,
      timestamp: BigInt(t0 + i * 1000),
    }))
    return producer.send({ messages, acks: ACKS_ALL })
  })

  const [byTime] = await listOffsets(topic, BigInt(t0 + 30500))
  if (byTime !== 31n) throw new Error(`offset for time T0+30500: ${byTime}, expected 31`)
  const [[earliest], [latest]] = [
    await listOffsets(topic, EARLIEST),
    await listOffsets(topic, LATEST),
  ]
  if (earliest !== 0n || latest !== 100n) {
    throw new Error(`earliest ${earliest}, latest ${latest}; expected 0 and 100`)
  }

  const atFifty = await firstFromOffset(topic, 50)
  if (atFifty.error) throw atFifty.error
  const { offset, value, timestamp } = atFifty.message
  if (offset !== 50n || value.toString() !== 's5-50' || timestamp !== BigInt(t0 + 50000)) {
    throw new Error(`after seek to 50: offset ${offset} value ${value} timestamp ${timestamp}`)
  }

  // Its consumer has no reset policy for a fetch position out of range (its modes choose
  // only where a stream starts): the fetch fails with OFFSET_OUT_OF_RANGE, Kafka's
  // auto.offset.reset=none behaviour.
  const outOfRange = await firstFromOffset(topic, 1000)
  const match = protocolErrors(outOfRange.error).find(e => e.apiId === 'OFFSET_OUT_OF_RANGE')
  if (!match) {
    if (outOfRange.error) throw outOfRange.error
    throw new Error(
      `start at 1000: got offset ${outOfRange.message.offset}, expected OFFSET_OUT_OF_RANGE`
    )
  }
  console.log(`start at 1000 (out of range): ${outOfRange.error.message} <- ${match.message}`)
  console.log(
    'seek 50, time lookup 31, earliest 0, latest 100, out of range with no reset: as expected'
  )
  console.log(
    `partial: @platformatic/kafka ${VERSION} has no auto.offset.reset for an out-of-range position (earliest/latest not checked; the fetch fails with OFFSET_OUT_OF_RANGE)`
  )
}

async function scenarioErrors() {
  const retrying = { retries: 2, retryDelay: 100 }
  // The producer looks the topic up first and turns Metadata's UNKNOWN_TOPIC_OR_PARTITION
  // into its own UserError "Unknown topic <name>." (Base#metadata).
  const unknown = named('s6-unknown')
  await withClient(
    new kafka.Producer(options({ ...retrying, autocreateTopics: false })),
    producer =>
      expectKafkaError(
        'produce to unknown topic',
        'UNKNOWN_TOPIC_OR_PARTITION',
        () =>
          producer.send({
            messages: [{ topic: unknown, value: Buffer.from('x'), partition: 0 }],
            autocreateTopics: false,
          }),
        e => e instanceof kafka.UserError && e.message === `Unknown topic ${unknown}.`
      )
  )

  const large = named('s6-large')
  const partitioned = named('s6-partitions')
  await withClient(new kafka.Admin(options()), async admin => {
    // The size limit is the topic's own, so that no broker setting is needed.
    await admin.createTopics({
      topics: [large],
      partitions: 1,
      replicas: 1,
      configs: [{ name: 'max.message.bytes', value: '100000' }],
    })
    await expectKafkaError('create topic "bad name!"', 'INVALID_TOPIC_EXCEPTION', () =>
      admin.createTopics({ topics: ['bad name!'], partitions: 1, replicas: 1 })
    )
    await admin.createTopics({ topics: [partitioned], partitions: 3, replicas: 1 })
    await expectKafkaError(`shrink ${partitioned} to 2 partitions`, 'INVALID_PARTITIONS', () =>
      admin.createPartitions({ topics: [{ name: partitioned, count: 2, assignments: [] }] })
    )
  })

  await withClient(new kafka.Producer(options(retrying)), producer =>
    expectKafkaError('produce a 200000-byte record', 'MESSAGE_TOO_LARGE', () =>
      producer.send({
        messages: [{ topic: large, value: Buffer.alloc(200000, 0x61), partition: 0 }],
        acks: ACKS_ALL,
      })
    )
  )
}

function scenarioMixed(env) {
  return mixedScenario(env, {
    produce: async (topic, count) => {
      await createTopic(topic, PARTITIONS)
      await withClient(new kafka.Producer(options()), producer =>
        produceCanonical(producer, topic, count, 'none')
      )
    },
    verify: verifyCanonical,
  })
}

// One idempotent acks=all producer across the stop of the leader. A send looks the leader
// up once (producer.js, #performSingleDestinationSend) and retries only that address after a
// connection error; it asks for new metadata on an error code such as NOT_LEADER_OR_FOLLOWER
// or when its metadata is older than metadataMaxAge (5 s by default). A leader that is
// simply gone sends no error code, so the producer is given a metadataMaxAge shorter than
// the hand-over: every send after it finds the new leaders.
async function scenarioHandover({ topic }) {
  await withClient(
    new kafka.Producer(options({ idempotent: true, metadataMaxAge: HANDOVER_METADATA_MAX_AGE })),
    producer =>
      handoverScenario({
        produce: (first, end) => produceCanonical(producer, topic, end, 'none', SEND_CHUNK, first),
        verify: count => verifyCanonical(topic, count),
      })
  )
  console.log(
    `partial: @platformatic/kafka ${VERSION} does not follow a leader that stops: a send retries the ` +
      `stopped leader's address until its retries run out (connection refused), since it ` +
      `looks leaders up again only on an error code or once its metadata is older than ` +
      `metadataMaxAge (5 s by default); with metadataMaxAge ${HANDOVER_METADATA_MAX_AGE} ms ` +
      `the records after the hand-over went to the new leaders and all were read back ` +
      `exactly once, in order`
  )
}

// Scenario 9's offsets: @platformatic/kafka commits offsets in a transaction only for
// messages a member of the group consumed (Transaction.addOffset(message) commits
// message.offset + 1 with the member's generation), so a member of s9-group reads the
// committed records and hands over, per partition, the message just before `offsets[p]`.
async function consumedForOffsets(group, topic, offsets) {
  const member = new kafka.Consumer(
    options({
      groupId: group,
      ...GROUP_TIMING,
      isolationLevel: kafka.FetchIsolationLevels.READ_COMMITTED,
    })
  )
  const stream = await member.consume({
    topics: [topic],
    mode: kafka.MessagesStreamModes.EARLIEST,
    autocommit: false,
    maxWaitTime: 200,
  })
  const wanted = offsets.map(offset => BigInt(offset) - 1n)
  const found = []
  const timeout = setTimeout(
    () => stream.destroy(new Error(`${group}: offsets [${wanted}] not consumed within 20 s`)),
    20000
  )
  try {
    for await (const message of stream) {
      if (message.offset === wanted[message.partition]) found[message.partition] = message
      if (offsets.every((_, p) => found[p])) break
    }
  } finally {
    clearTimeout(timeout)
  }
  return { member, messages: found }
}

// Scenario 9. beginTransaction() initializes the producer (InitProducerId with the
// transactional.id) the first time; consumers read committed records with
// isolationLevel READ_COMMITTED.
async function scenarioTransactions() {
  const { topic, group, transactionalId } = transactionNames('platformatic-kafka')
  await createTopic(topic, PARTITIONS)
  const transactional = (extra = {}) =>
    new kafka.Producer(options({ idempotent: true, transactionalId, ...extra }))
  await withClient(transactional(), async producer => {
    const lacks = await transactionScenario({
      runTransaction: async (first, end, commit, offsets) => {
        const consumed = offsets && (await consumedForOffsets(group, topic, offsets))
        try {
          const transaction = await producer.beginTransaction()
          await produceCanonical(transaction, topic, end, undefined, SEND_CHUNK, first)
          if (consumed) {
            await transaction.addConsumer(consumed.member)
            for (const message of consumed.messages) await transaction.addOffset(message)
          }
          await (commit ? transaction.commit() : transaction.abort())
        } finally {
          if (consumed) await consumed.member.close(true)
        }
      },
      read: readCommitted =>
        consumeFromBeginning(
          topic,
          Array.from({ length: PARTITIONS }, () => (readCommitted ? 20 : 30)),
          {
            isolationLevel: readCommitted
              ? kafka.FetchIsolationLevels.READ_COMMITTED
              : kafka.FetchIsolationLevels.READ_UNCOMMITTED,
          }
        ),
      committedOffsets: () =>
        withClient(new kafka.Admin(options()), async admin => {
          const [{ topics }] = await admin.listConsumerGroupOffsets({ groups: [group] })
          const partitions = topics.find(t => t.name === topic)?.partitions || []
          return partitions
            .sort((a, b) => a.partitionIndex - b.partitionIndex)
            .map(p => p.committedOffset)
        }),
      fence: async () => {
        // By default its InitProducerId carries producer id 0 and epoch 0, which Kafka takes
        // as a claim to be producer 0 (KIP-360) and answers with PRODUCER_FENCED unless the
        // transactional.id's producer is 0 (a fresh single broker's first id): a producer
        // that takes a transactional.id over says -1/-1 ("none"), as Kafka's own does.
        const fresh = { producerId: -1n, producerEpoch: -1 }
        await withClient(transactional(fresh), async second => {
          // Its first beginTransaction() initializes it: InitProducerId bumps the epoch.
          const transaction = await second.beginTransaction()
          await transaction.cancel()
        })
        let match
        await expectError(
          "the fenced producer's transaction",
          'PRODUCER_FENCED or INVALID_PRODUCER_EPOCH',
          async () => {
            const transaction = await producer.beginTransaction()
            await produceCanonical(transaction, topic, 91, undefined, 1, 90)
            await transaction.commit()
          },
          e =>
            (match = protocolErrors(e).find(error =>
              ['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH'].includes(error.apiId)
            )),
          e => protocolErrors(e).map(error => error.apiId)
        )
        return `${match.apiId}: ${match.message}`
      },
    })
    if (lacks.length) console.log(`partial: ${lacks.join('; ')}`)
  })
}

async function main() {
  kafka = await import('@platformatic/kafka')
  runScenarios(`@platformatic/kafka ${VERSION}`, {
    1: scenarioAdmin,
    2: scenarioCodecs,
    3: scenarioIdempotence,
    4: scenarioGroup,
    5: scenarioSeek,
    6: scenarioErrors,
    7: scenarioMixed,
    8: scenarioHandover,
    9: scenarioTransactions,
  })
}

bootstrap = process.env.KEEL_BOOTSTRAP
main()
