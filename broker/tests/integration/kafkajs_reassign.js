// kafkajs's admin.alterPartitionReassignments / listPartitionReassignments for
// test_cluster_reassignment.py: node kafkajs_reassign.js '<json>' with {brokers: [...],
// op: "alter" | "list", topics}; prints {ok: result} or {error: type, errors: [...]}.
// kafkajs comes from NODE_PATH (compat-tests/kafkajs/node_modules).
const { Kafka, logLevel } = require('kafkajs')

async function main() {
  const command = JSON.parse(process.argv[2])
  const kafka = new Kafka({ clientId: 'reassign-test', brokers: command.brokers,
                            logLevel: logLevel.NOTHING, retry: { retries: 3 } })
  const admin = kafka.admin()
  await admin.connect()
  try {
    if (command.op === 'alter') {
      await admin.alterPartitionReassignments({ topics: command.topics, timeout: 10000 })
      return { ok: null }
    }
    return { ok: await admin.listPartitionReassignments({ topics: command.topics,
                                                          timeout: 10000 }) }
  } catch (e) {
    const errors = (e.errors || []).map(x => ({ type: x.type, topic: x.topic,
                                                 partition: x.partition }))
    return { error: e.type || e.name, message: e.message, errors }
  } finally {
    await admin.disconnect()
  }
}

main().then(out => console.log(JSON.stringify(out)),
            e => { console.log(JSON.stringify({ error: 'CRASH', message: String(e) })) })
