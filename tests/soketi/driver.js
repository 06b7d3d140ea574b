// Drives real pusher-js clients against a soketi server, for end-to-end tests.
//
// Commands arrive on stdin, one JSON object a line; each gets one reply line carrying its `id`:
//   {"id", "op": "connect", "client", "user_id"?, "key"?, "secret"?}  reply once connected, with socket_id
//   {"id", "op": "subscribe", "client", "channel"}       reply on subscription_succeeded (or its error)
//   {"id", "op": "trigger", "client", "channel", "event", "data"}  a client event (`client-...`)
//   {"id", "op": "unsubscribe", "client", "channel"}     reply once the request is sent
//   {"id", "op": "disconnect", "client"}                 reply once the connection is closed
// Every event a client receives on a channel is printed as {"client", "received": {channel, event, data}}.
// DRIVER_PORT (soketi's port), DRIVER_APP_ID, DRIVER_KEY and DRIVER_SECRET say which app to use;
// private and presence channels are authorized in the client with the `pusher` server SDK's
// `authorizeChannel`, so no auth endpoint is needed.
'use strict';
const path = require('path');
const readline = require('readline');

const modules = path.join(__dirname, '..', 'node', 'node_modules');
const PusherClient = require(path.join(modules, 'pusher-js'));
const PusherServer = require(path.join(modules, 'pusher'));

const port = Number(process.env.DRIVER_PORT);
const clients = new Map();

function print(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function connect(cmd, reply) {
  const appId = process.env.DRIVER_APP_ID;
  const key = cmd.key || process.env.DRIVER_KEY;
  const secret = cmd.secret || process.env.DRIVER_SECRET;
  const server = new PusherServer({ appId, key, secret });
  const client = new PusherClient(key, {
    // pusher-js 8 wants a cluster even when wsHost says where to go.
    cluster: 'local',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const presence = channelName.startsWith('presence-')
          ? { user_id: cmd.user_id, user_info: { name: cmd.user_id } }
          : undefined;
        callback(null, server.authorizeChannel(socketId, channelName, presence));
      },
    },
  });
  client.bind_global((event, data) => {
    if (!event.startsWith('pusher:') && !event.startsWith('pusher_internal:')) {
      print({ client: cmd.client, received: { event, data } });
    }
  });
  clients.set(cmd.client, client);
  client.connection.bind('connected', () => reply({ socket_id: client.connection.socket_id }));
  client.connection.bind('error', (err) => reply({ error: String(err && err.error ? JSON.stringify(err.error) : err) }));
}

function subscribe(cmd, reply) {
  const channel = clients.get(cmd.client).subscribe(cmd.channel);
  channel.bind('pusher:subscription_succeeded', () => reply({ subscribed: cmd.channel }));
  channel.bind('pusher:subscription_error', (err) => reply({ error: JSON.stringify(err) }));
  channel.bind_global((event, data) => {
    if (!event.startsWith('pusher:') && !event.startsWith('pusher_internal:')) {
      print({ client: cmd.client, received: { channel: cmd.channel, event, data } });
    }
  });
}

function handle(cmd) {
  let answered = false;
  const reply = (fields) => {
    if (answered) return;
    answered = true;
    print({ id: cmd.id, ...fields });
  };
  const client = clients.get(cmd.client);
  if (cmd.op !== 'connect' && !client) return reply({ error: `no client ${cmd.client}` });
  switch (cmd.op) {
    case 'connect': return connect(cmd, reply);
    case 'subscribe': return subscribe(cmd, reply);
    case 'trigger': return reply({ sent: client.channel(cmd.channel).trigger(cmd.event, cmd.data) });
    case 'unsubscribe':
      client.unsubscribe(cmd.channel);
      return reply({ unsubscribed: cmd.channel });
    case 'disconnect':
      client.connection.bind('disconnected', () => reply({ disconnected: cmd.client }));
      client.disconnect();
      clients.delete(cmd.client);
      return undefined;
    default: return reply({ error: `unknown op ${cmd.op}` });
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim()) handle(JSON.parse(line));
}).on('close', () => {
  clients.forEach((c) => c.disconnect());
  setTimeout(() => process.exit(0), 100);
});
print({ ready: true });
