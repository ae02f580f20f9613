// Checks the shape of `docker-compose config` output (stdin): what issues 5 and 16 ask of the compose
// file (issue 16: a replica-3 volume, one MDS set and one DS set of 3 brick containers each).
//   docker-compose -f docker-compose.yml config | node test/compose/check-config.mjs bridge
//   docker-compose -f docker-compose.yml -f docker-compose.host.yml config | node test/compose/check-config.mjs host
// Exit 0: every check passed; 1: a check failed (each failure printed); 3: the `yaml` package is missing.
let parse;
try {
  ({ parse } = await import('yaml'));
} catch {
  process.stderr.write('check-config: the yaml package is not installed (npm ci); structural checks skipped\n');
  process.exit(3);
}
const mode = process.argv[2] ?? 'bridge';
let text = '';
for await (const chunk of process.stdin) text += chunk;
const cfg = parse(text);
const failures = [];
const check = (ok, msg) => { if (!ok) failures.push(msg); };

const services = cfg?.services ?? {};
// In layout order: each run of 3 is a replica set (mds-0, ds-0; ARCHITECTURE.md §10.12).
const bricks = { mds0: 'mds', mds1: 'mds', mds2: 'mds', ds0: 'ds', ds1: 'ds', ds2: 'ds' };
// With the host-network override the gateway runs as `gateway-host` (docker-compose v1 cannot
// drop the base file's `ports:`, which host networking refuses); `gateway` is parked behind a profile.
const gwName = mode === 'host' ? 'gateway-host' : 'gateway';
const expected = mode === 'host' ? 'ds0 ds1 ds2 gateway gateway-host mds0 mds1 mds2' : 'ds0 ds1 ds2 gateway mds0 mds1 mds2';
check(Object.keys(services).sort().join(' ') === expected,
  `services are ${expected} (got ${Object.keys(services).sort().join(' ')})`);

const ports = new Set();
const volumes = new Set();
for (const [name, role] of Object.entries(bricks)) {
  const s = services[name];
  if (!s) continue;
  const cmd = (Array.isArray(s.command) ? s.command : String(s.command ?? '').split(/\s+/)).map(String);
  const arg = (flag) => { const i = cmd.indexOf(flag); return i >= 0 ? cmd[i + 1] : undefined; };
  check(cmd[0] === 'brick', `${name}: runs "dht2 brick" (command ${cmd.join(' ')})`);
  check(arg('--dir') === '/data', `${name}: --dir /data`);
  check(arg('--role') === role, `${name}: --role ${role}`);
  check(arg('--brick-id') === name, `${name}: --brick-id ${name}`);
  check(Boolean(arg('--volume-id')), `${name}: --volume-id`);
  check(Boolean(arg('--host')), `${name}: --host`);
  const port = Number(arg('--port'));
  check(port > 0 && !ports.has(port), `${name}: a distinct --port (got ${arg('--port')})`);
  ports.add(port);
  const vols = (s.volumes ?? []).map((v) => (typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : v));
  const data = vols.find((v) => v.target === '/data');
  check(data && data.source && !data.source.startsWith('/') && !data.source.startsWith('.'), `${name}: a named volume on /data`);
  if (data) { check(!volumes.has(data.source), `${name}: its own volume (${data.source} is shared)`); volumes.add(data.source); }
  check(Array.isArray(s.healthcheck?.test) && s.healthcheck.test.join(' ').includes(`:${port}/-/health`),
    `${name}: a healthcheck on its /-/health (port ${port})`);
  check(s.environment?.DHT2_CLUSTER_SECRET !== undefined, `${name}: DHT2_CLUSTER_SECRET from the env file`);
  // Issue 14: on the host's network a brick listens only where the gateway reaches it, on
  // loopback; never on every interface (its h2c is not encrypted).
  if (mode === 'host') check(/^127\.\d+\.\d+\.\d+$|^::1$/.test(arg('--host') ?? ''), `${name}: --host is a loopback address with host networking (got ${arg('--host')})`);
}
for (const v of volumes) check(cfg.volumes && v in cfg.volumes, `named volume ${v} is declared under volumes:`);

const gw = services[gwName] ?? {};
for (const b of Object.keys(bricks)) {
  check(gw.depends_on?.[b]?.condition === 'service_healthy', `gateway: depends_on ${b} with condition service_healthy`);
}
check(Array.isArray(gw.healthcheck?.test) && gw.healthcheck.test.join(' ').includes('/-/health'), 'gateway: a healthcheck on /-/health');
for (const k of ['DHT2_CLUSTER_SECRET', 'DHT2_ACCESS_KEY', 'DHT2_SECRET_KEY']) {
  check(gw.environment?.[k] !== undefined, `gateway: ${k} from the env file`);
}
const list = `${gw.environment?.DHT2_MDS_BRICKS ?? ''} ${gw.environment?.DHT2_DS_BRICKS ?? ''}`.trim().split(/\s+/);
check(list.map((x) => x.split('=')[0]).join(' ') === Object.keys(bricks).join(' '), `gateway: brick list in layout order ${Object.keys(bricks).join(' ')} (got ${list.join(' ')})`);
// The gateway's start writes a replica-3 volume file and installs its layout on the bricks: the
// check must run (--no-check would skip the install, and the bricks would never form their sets).
const start = (Array.isArray(gw.command) ? gw.command : [String(gw.command ?? '')]).join(' ');
check(/volume create .*--replica 3\b/.test(start), `gateway: its start runs "dht2 volume create --replica 3" (got ${start})`);
check(!/--no-check\b/.test(start), 'gateway: "volume create" runs with its check (it installs the layout on every brick)');
check(/&& exec node dist\/bin\/dht2\.js gateway\b/.test(start), 'gateway: the gateway starts only after "volume create" succeeded');
for (const entry of list) {
  const [id, url] = entry.split('=');
  let u;
  try { u = new URL(url); } catch { check(false, `gateway: ${id} has a valid URL (${url})`); continue; }
  const brickPort = (services[id]?.command ?? []).map(String)[(services[id]?.command ?? []).map(String).indexOf('--port') + 1];
  check(u.port === brickPort, `gateway: ${id} URL port ${u.port} matches the brick's --port ${brickPort}`);
  check(u.hostname === (mode === 'host' ? '127.0.0.1' : id), `gateway: ${id} addressed as ${mode === 'host' ? '127.0.0.1' : id} (got ${u.hostname})`);
  if (mode === 'host') {
    const cmd = (services[id]?.command ?? []).map(String);
    check(cmd[cmd.indexOf('--host') + 1] === u.hostname, `${id}: listens on ${cmd[cmd.indexOf('--host') + 1]}, the address the volume file names is ${u.hostname}`);
  }
}
if (mode === 'host') {
  // Every service, the parked gateway too: a service left on the default network would make
  // compose create a bridge network.
  for (const [name, s] of Object.entries(services)) check(s.network_mode === 'host', `${name}: network_mode host`);
  const base = services.gateway ?? {};
  check(Array.isArray(base.profiles) && base.profiles.length > 0, 'gateway: parked behind a profile in host mode');
  check(!gw.ports || gw.ports.length === 0, 'gateway-host: no ports (host networking refuses them)');
  check(!gw.profiles || gw.profiles.length === 0, 'gateway-host: no profile');
  // The two gateways must stay the same apart from networking and the brick addresses.
  const same = (k) => JSON.stringify(base[k] ?? null) === JSON.stringify(gw[k] ?? null);
  for (const k of ['image', 'entrypoint', 'command', 'depends_on', 'healthcheck', 'restart', 'stop_grace_period']) {
    check(same(k), `gateway-host: ${k} differs from gateway's (keep docker-compose.host.yml in step)`);
  }
  const envKeys = (e) => Object.keys(e ?? {}).sort().join(' ');
  check(envKeys(base.environment) === envKeys(gw.environment), 'gateway-host: environment variables differ from gateway\'s');
  for (const k of Object.keys(base.environment ?? {})) {
    if (k !== 'DHT2_MDS_BRICKS' && k !== 'DHT2_DS_BRICKS') check(base.environment[k] === gw.environment?.[k], `gateway-host: ${k} differs from gateway's`);
  }
  check(cfg.networks === undefined || Object.keys(cfg.networks).length === 0, 'host mode declares no networks');
} else {
  // Short form "[ip:]published:target[/proto]" (compose v1) or long form {target, published} (v2).
  const gwPort = String(gw.environment?.DHT2_PORT ?? '9000');
  const published = (gw.ports ?? []).map((p) => (typeof p === 'object'
    ? { target: String(p.target), published: String(p.published) }
    : (([t, pub]) => ({ target: t, published: pub }))(String(p).replace(/\/\w+$/, '').split(':').reverse())));
  check(published.some((p) => p.target === gwPort && p.published === gwPort),
    `gateway: port ${gwPort} published (got ${JSON.stringify(gw.ports ?? [])})`);
  for (const [name, s] of Object.entries(services)) check(s.network_mode === undefined, `${name}: on the compose network`);
}

if (failures.length) {
  process.stderr.write(`compose config (${mode}): ${failures.length} problem(s)\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`compose config (${mode}): ${gwName} + ${Object.keys(bricks).length} bricks (replica 3), ${volumes.size} brick volumes, healthchecks and depends_on ok\n`);
