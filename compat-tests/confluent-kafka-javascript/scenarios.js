'use strict'
// keel compatibility scenarios for @confluentinc/kafka-javascript: a current librdkafka
// (built from the source the package ships) under Confluent's JavaScript client. The
// contract with run.py, the canonical record set and scenarios 1-9 are defined in
// ../README.md; ../js/canonical.js has what the JavaScript programs share.
//
// Producing, group consuming and most admin calls go through the package's promise API
// (`KafkaJS`), configured with librdkafka's own property names; partition assignment,
// offset resets and CreatePartitions, which that API does not expose, through the
// node-rdkafka-style classes (KafkaConsumer, AdminClient) of the same package.

const RdKafka = require('@confluentinc/kafka-javascript')
const { version: VERSION } = require('@confluentinc/kafka-javascript/package.json')
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

const { Kafka, ErrorCodes, logLevel } = RdKafka.KafkaJS
const SEND_CHUNK = 500 // records per producer.send()
// Scenario 3 sends fewer records at a time, so there are enough Produce requests for the
// proxy to drop the responses to the 2nd, 5th and 9th.
const IDEMPOTENT_SEND_CHUNK = 100

// Short group timings so joins and rebalances finish quickly against a local broker.
const GROUP_TIMING = {
  'session.timeout.ms': 6000,
  'heartbeat.interval.ms': 1000,
  'fetch.wait.max.ms': 200,
  'topic.metadata.refresh.interval.ms': 5000,
}

let bootstrap

function client() {
  return new Kafka({
    'bootstrap.servers': bootstrap,
    'client.id': 'keel-compat-confluent-kafka-javascript',
    kafkaJS: { logLevel: logLevel.WARN },
  })
}

async function withClient(handle, body) {
  await handle.connect()
  try {
    return await body(handle)
  } finally {
    await handle.disconnect()
  }
}

// The promise API takes and gives headers as an object in wire order (names are distinct
// and not integer-like in every canonical record) and keys and values as Buffers or null.
function toMessage(record) {
  return {
    key: record.key,
    value: record.value,
    headers: Object.fromEntries(record.headers),
    partition: record.partition,
  }
}

function fromMessage(message) {
  return {
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers: Object.entries(message.headers || {}),
  }
}

async function createTopic(topic, numPartitions) {
  await withClient(client().admin(), admin =>
    admin.createTopics({ topics: [{ topic, numPartitions }] })
  )
}

function producer(config = {}) {
  return client().producer({ acks: -1, 'linger.ms': 5, ...config })
}

function produceCanonical(handle, topic, count, chunk = SEND_CHUNK, first = 0) {
  return sendCanonical(
    count,
    chunk,
    records => handle.send({ topic, messages: records.map(toMessage) }),
    first
  )
}

// `config`: the consumer's own librdkafka properties (isolation.level).
function groupConsumer(groupId, config = {}) {
  return client().consumer({
    'group.id': groupId,
    'auto.offset.reset': 'earliest',
    'enable.auto.commit': false,
    ...GROUP_TIMING,
    ...config,
  })
}

// Reads partitions 0..counts.length-1 of `topic` from the beginning with a fresh group
// until partition p has counts[p] messages.
async function consumeFromBeginning(topic, counts, config = {}) {
  const groupId = named(`confluent-js-read-${topic}-${process.pid}-${Date.now()}`)
  const consumer = groupConsumer(groupId, config)
  return withClient(consumer, async () => {
    await consumer.subscribe({ topics: [topic] })
    const records = collector(topic, counts)
    consumer.run({
      eachMessage: async ({ partition, message }) => records.add(partition, fromMessage(message)),
    })
    return records.done
  })
}

function verifyCanonical(topic, count) {
  return verifyWith(topic, count, {
    consume: consumeFromBeginning,
    highWatermarks: async t => {
      const offsets = await withClient(client().admin(), admin => admin.fetchTopicOffsets(t))
      return offsets.sort((x, y) => x.partition - y.partition).map(o => o.high)
    },
  })
}

// Awaits `action`, which must fail with librdkafka error `code`: the error's own code or,
// for an aggregate (createTopics), one of its errors'.
function expectCode(what, name, code, action) {
  const errors = e => [e, ...(e.errors || [])]
  return expectError(
    what,
    `${name} (${code})`,
    action,
    e => errors(e).find(error => error.code === code),
    e => errors(e).map(error => error.code)
  )
}

// ---------------------------------------------------------------------------------------
// The node-rdkafka-style classes, promisified where a scenario needs them.

function rdAdmin() {
  return RdKafka.AdminClient.create({ 'bootstrap.servers': bootstrap })
}

async function assignedConsumer(topic, offset, reset) {
  const consumer = new RdKafka.KafkaConsumer(
    {
      'bootstrap.servers': bootstrap,
      'group.id': named(`confluent-js-s5-${reset}-${process.pid}`),
      'enable.auto.commit': false,
      'enable.partition.eof': true,
      'fetch.wait.max.ms': 200,
    },
    { 'auto.offset.reset': reset }
  )
  await new Promise((resolve, reject) =>
    consumer.connect({}, error => (error ? reject(error) : resolve()))
  )
  consumer.setDefaultConsumeTimeout(200)
  consumer.assign([{ topic, partition: 0, offset }])
  return consumer
}

// The first record, or the first error, an assigned consumer gets; `atEnd` runs once when
// it reports reaching the end of the partition.
async function firstRecord(consumer, what, atEnd) {
  let eof = null
  consumer.on('partition.eof', event => (eof = event))
  const deadline = Date.now() + 20000
  while (Date.now() < deadline) {
    const { error, messages } = await new Promise(resolve =>
      consumer.consume(1, (error, messages) => resolve({ error, messages }))
    )
    if (error) return { error }
    if (messages.length) return { message: messages[0] }
    if (eof && atEnd) {
      await atEnd(eof)
      atEnd = null
    }
  }
  throw new Error(`${what}: nothing consumed within 20 s`)
}

function disconnect(consumer) {
  return new Promise(resolve => consumer.disconnect(() => resolve()))
}

// ---------------------------------------------------------------------------------------
// Scenarios.

async function scenarioAdmin() {
  const topic = named('s1-admin')
  await withClient(client().admin(), async admin => {
    if (!(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }))) {
      throw new Error(`createTopics(${topic}) reported that the topic already exists`)
    }
    const listed = await admin.listTopics()
    if (!listed.includes(topic))
      throw new Error(`${topic} missing from listTopics after create: [${listed}]`)
    const [described] = await admin.fetchTopicMetadata({ topics: [topic] })
    if (described.name !== topic || described.partitions.length !== 3) {
      throw new Error(`describe ${topic}: ${JSON.stringify(described)}`)
    }
    for (const p of described.partitions) {
      if (!(p.leader >= 0))
        throw new Error(`${topic} partition ${p.partitionId}: leader ${p.leader}`)
    }
    console.log(`${topic}: partitions led by [${described.partitions.map(p => p.leader)}]`)
    await admin.deleteTopics({ topics: [topic] })
    if ((await admin.listTopics()).includes(topic))
      throw new Error(`${topic} still listed after delete`)
  })
}

async function scenarioCodecs() {
  const count = 10000
  const builtin = RdKafka.features // librdkafka's builtin.features
  for (const codec of CODECS) {
    if (codec !== 'none' && !builtin.includes(codec === 'gzip' ? 'gzip' : codec)) {
      console.log(
        `skipped codec: ${codec}: this librdkafka ${RdKafka.librdkafkaVersion} was built without it`
      )
      continue
    }
    const topic = named(`s2-${codec}`)
    await createTopic(topic, PARTITIONS)
    await withClient(producer({ 'compression.codec': codec }), handle =>
      produceCanonical(handle, topic, count)
    )
    await verifyCanonical(topic, count)
    console.log(`${codec}: ${count} records round-tripped`)
  }
}

async function scenarioIdempotence() {
  const topic = named('s3-idempotent')
  const count = 2000
  await createTopic(topic, PARTITIONS)
  await withClient(producer({ 'enable.idempotence': true }), handle =>
    produceCanonical(handle, topic, count, IDEMPOTENT_SEND_CHUNK)
  )
  await verifyCanonical(topic, count)
  console.log(`${count} records, each exactly once`)
}

async function scenarioGroup() {
  const topic = named('s4-group')
  const groupId = named('s4-group')
  const partitions = 6
  await createTopic(topic, partitions)
  await withClient(producer(), sender =>
    groupScenario({
      partitions,
      produce: indexes =>
        sender.send({
          topic,
          messages: indexes.map(i => ({
            key: `k-${i}`,
            value: `s4-${i}`,
            partition: i % partitions,
          })),
        }),
      startMember: async (name, deliver) => {
        const consumer = groupConsumer(groupId)
        await consumer.connect()
        await consumer.subscribe({ topics: [topic] })
        // Each record is committed before the next is taken.
        consumer.run({
          eachMessage: async ({ partition, message }) => {
            deliver(message.value.toString())
            const next = (BigInt(message.offset) + 1n).toString()
            await consumer.commitOffsets([{ topic, partition, offset: next }])
          },
        })
        return {
          assignment: () => consumer.assignment().map(tp => tp.partition),
          close: () => consumer.disconnect(),
        }
      },
    })
  )
}

async function scenarioSeek() {
  const topic = named('s5-seek')
  const t0 = Math.floor((Date.now() - 3600 * 1000) / 1000) * 1000
  await createTopic(topic, 1)
  const sender = producer()
  await sender.connect()
  try {
    const messages = Array.from({ length: 100 }, (_, i) => ({
      value: `s5-${i}`,
      partition: 0,
      timestamp: String(t0 + i * 1000),
    }))
    await sender.send({ topic, messages })

    await withClient(client().admin(), async admin => {
      const [byTime] = await admin.fetchTopicOffsetsByTimestamp(topic, t0 + 30500)
      if (byTime.offset !== '31')
        throw new Error(`offset for time T0+30500: ${byTime.offset}, expected 31`)
      const [{ low, high }] = await admin.fetchTopicOffsets(topic)
      if (low !== '0' || high !== '100')
        throw new Error(`earliest ${low}, latest ${high}; expected 0 and 100`)
    })

    const check = (what, result, offset, value) => {
      if (result.error) throw result.error
      const m = result.message
      if (m.offset !== offset || String(m.value) !== value) {
        throw new Error(`${what}: offset ${m.offset} value ${m.value}, expected ${offset} ${value}`)
      }
      return m
    }
    const run = async (offset, reset, what, expect, atEnd) => {
      const consumer = await assignedConsumer(topic, offset, reset)
      try {
        return expect(what, await firstRecord(consumer, what, atEnd))
      } finally {
        await disconnect(consumer)
      }
    }
    const fifty = await run(50, 'error', 'seek to 50', (what, r) => check(what, r, 50, 's5-50'))
    if (fifty.timestamp !== t0 + 50000)
      throw new Error(`seek to 50: timestamp ${fifty.timestamp}, expected ${t0 + 50000}`)
    await run(1000, 'earliest', 'out of range, earliest', (what, r) => check(what, r, 0, 's5-0'))
    // The end-of-partition event at 100 shows the reset is done before the next produce.
    await run(
      1000,
      'latest',
      'out of range, latest',
      (what, r) => check(what, r, 100, 's5-100'),
      async eof => {
        if (eof.offset !== 100)
          throw new Error(`out of range, latest: end of partition at ${eof.offset}`)
        await sender.send({ topic, messages: [{ value: 's5-100', partition: 0 }] })
      }
    )
    await run(1000, 'error', 'out of range, no reset', (what, r) => {
      if (!r.error || r.error.code !== ErrorCodes.ERR__AUTO_OFFSET_RESET) {
        throw new Error(
          `${what}: got ${r.error ? r.error.message : `offset ${r.message.offset}`}, expected ERR__AUTO_OFFSET_RESET`
        )
      }
      console.log(`${what}: ${r.error.message}`)
    })
    console.log('seek 50, time lookup 31, earliest 0, latest 100, out-of-range resets: as expected')
  } finally {
    await sender.disconnect()
  }
}

async function scenarioErrors() {
  // librdkafka waits topic.metadata.propagation.max.ms for the topic to appear, then fails
  // the record with the broker's UNKNOWN_TOPIC_OR_PARTITION.
  await withClient(producer({ 'topic.metadata.propagation.max.ms': 1000 }), handle =>
    expectCode(
      'produce to unknown topic',
      'UNKNOWN_TOPIC_OR_PARTITION',
      ErrorCodes.ERR_UNKNOWN_TOPIC_OR_PART,
      () => handle.send({ topic: named('s6-unknown'), messages: [{ value: 'x', partition: 0 }] })
    )
  )

  const large = named('s6-large')
  const partitioned = named('s6-partitions')
  await withClient(client().admin(), async admin => {
    // The size limit is the topic's own, so that no broker setting is needed.
    await admin.createTopics({
      topics: [
        {
          topic: large,
          numPartitions: 1,
          configEntries: [{ name: 'max.message.bytes', value: '100000' }],
        },
      ],
    })
    await expectCode(
      'create topic "bad name!"',
      'INVALID_TOPIC_EXCEPTION',
      ErrorCodes.ERR_TOPIC_EXCEPTION,
      () => admin.createTopics({ topics: [{ topic: 'bad name!', numPartitions: 1 }] })
    )
    await admin.createTopics({ topics: [{ topic: partitioned, numPartitions: 3 }] })
  })
  // The promise API has no createPartitions; the AdminClient has.
  const admin = rdAdmin()
  try {
    await expectCode(
      `shrink ${partitioned} to 2 partitions`,
      'INVALID_PARTITIONS',
      ErrorCodes.ERR_INVALID_PARTITIONS,
      () =>
        new Promise((resolve, reject) =>
          admin.createPartitions(partitioned, 2, 10000, error =>
            error ? reject(error) : resolve()
          )
        )
    )
  } finally {
    admin.disconnect()
  }

  await withClient(producer({ 'message.max.bytes': 1000000 }), handle =>
    expectCode(
      'produce a 200000-byte record',
      'MESSAGE_TOO_LARGE',
      ErrorCodes.ERR_MSG_SIZE_TOO_LARGE,
      () =>
        handle.send({
          topic: large,
          messages: [{ value: Buffer.alloc(200000, 0x61), partition: 0 }],
        })
    )
  )
}

function scenarioMixed(env) {
  return mixedScenario(env, {
    produce: async (topic, count) => {
      await createTopic(topic, PARTITIONS)
      await withClient(producer(), handle => produceCanonical(handle, topic, count))
    },
    verify: verifyCanonical,
  })
}

// One idempotent acks=all producer across the stop of the leader (librdkafka follows it).
async function scenarioHandover({ topic }) {
  await withClient(producer({ 'enable.idempotence': true }), handle =>
    handoverScenario({
      produce: (first, end) => produceCanonical(handle, topic, end, SEND_CHUNK, first),
      verify: count => verifyCanonical(topic, count),
    })
  )
}

// Scenario 9. The producer initializes its transactions in connect(); sendOffsets takes the
// consumer of the group (its group metadata), which need not have joined it.
async function scenarioTransactions() {
  const { topic, group, transactionalId } = transactionNames('confluent-kafka-javascript')
  await createTopic(topic, PARTITIONS)
  const transactional = () => producer({ 'transactional.id': transactionalId })
  const first = transactional()
  const groupMember = groupConsumer(group)
  await first.connect()
  await groupMember.connect()
  try {
    const lacks = await transactionScenario({
      runTransaction: async (from, end, commit, offsets) => {
        const transaction = await first.transaction()
        // send() resolves once every record is acknowledged: the aborted ones are in the log.
        await produceCanonical(transaction, topic, end, SEND_CHUNK, from)
        if (offsets) {
          await transaction.sendOffsets({
            consumer: groupMember,
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
      read: readCommitted =>
        consumeFromBeginning(
          topic,
          Array.from({ length: PARTITIONS }, () => (readCommitted ? 20 : 30)),
          { 'isolation.level': readCommitted ? 'read_committed' : 'read_uncommitted' }
        ),
      committedOffsets: async () => {
        const [{ partitions }] = await withClient(client().admin(), admin =>
          admin.fetchOffsets({
            groupId: group,
            topics: [{ topic, partitions: Array.from({ length: PARTITIONS }, (_, p) => p) }],
          })
        )
        return partitions.sort((a, b) => a.partition - b.partition).map(p => p.offset)
      },
      fence: async () => {
        await withClient(transactional(), async () => {}) // its connect() initializes it
        const fenced = [
          ErrorCodes.ERR__FENCED,
          ErrorCodes.ERR_PRODUCER_FENCED,
          ErrorCodes.ERR_INVALID_PRODUCER_EPOCH,
        ]
        const errors = e => [e, ...(e.errors || [])]
        let match
        await expectError(
          "the fenced producer's transaction",
          `librdkafka's _FENCED, PRODUCER_FENCED or INVALID_PRODUCER_EPOCH (${fenced})`,
          async () => {
            const transaction = await first.transaction()
            // The record fails as purged (ERR__PURGE_QUEUE) once the producer is fenced:
            // the fenced error is commit()'s.
            await produceCanonical(transaction, topic, 91, 1, 90).catch(e =>
              console.log(`send of record 90: ${e.name}: ${e.message} (code ${e.code})`)
            )
            await transaction.commit()
          },
          e => (match = errors(e).find(error => fenced.includes(error.code))),
          e => errors(e).map(error => error.code)
        )
        return `${match.name} (code ${match.code}): ${match.message}`
      },
    })
    if (lacks.length) console.log(`partial: ${lacks.join('; ')}`)
  } finally {
    await groupMember.disconnect()
    await first.disconnect().catch(() => {}) // fenced: fatal
  }
}

bootstrap = process.env.KEEL_BOOTSTRAP
runScenarios(
  `@confluentinc/kafka-javascript ${VERSION} (librdkafka ${RdKafka.librdkafkaVersion})`,
  {
    1: scenarioAdmin,
    2: scenarioCodecs,
    3: scenarioIdempotence,
    4: scenarioGroup,
    5: scenarioSeek,
    6: scenarioErrors,
    7: scenarioMixed,
    8: scenarioHandover,
    9: scenarioTransactions,
  }
)
