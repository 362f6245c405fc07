// The OCI archives of `make images` (build/images/*.oci.tar): a valid image layout (index, manifest,
// config, layer digests), a non-root user, the entrypoint the chart relies on, and binaries that run
// from the unpacked root filesystem (chroot, as the image's user).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { runCli } from '../harness/cli.js';
import { REPO_ROOT } from '../harness/repo-root.js';

const IMAGES = join(REPO_ROOT, 'build', 'images');
const TAG = /appVersion: "?([^"\n]+)"?/.exec(readFileSync(join(REPO_ROOT, 'charts', 'avec', 'Chart.yaml'), 'utf8'))![1]!;

const descriptor = z.object({ mediaType: z.string(), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/), size: z.number().int().positive(), annotations: z.record(z.string(), z.string()).optional() });
const indexSchema = z.object({ schemaVersion: z.literal(2), manifests: z.array(descriptor).min(1) });
const manifestSchema = z.object({ schemaVersion: z.literal(2), config: descriptor, layers: z.array(descriptor).min(1) });
const configSchema = z.object({
  architecture: z.literal('amd64'),
  os: z.literal('linux'),
  config: z.object({ User: z.string(), Entrypoint: z.array(z.string()).min(1), Env: z.array(z.string()).optional(), Labels: z.record(z.string(), z.string()).optional() }),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string()).min(1) }),
});

interface Unpacked {
  config: z.infer<typeof configSchema>;
  rootfs: string;
}

/** Extract the archive, check every blob against its digest, unpack the layers into a root filesystem. */
async function unpack(name: string, work: string): Promise<Unpacked> {
  const tar = join(IMAGES, `${name}.oci.tar`);
  assert.ok(existsSync(tar), `${tar} missing: make images`);
  const dir = join(work, name);
  await runCli('mkdir', ['-p', join(dir, 'layout'), join(dir, 'rootfs')]);
  await runCli('tar', ['-xf', tar, '-C', join(dir, 'layout')]);
  const layout = JSON.parse(readFileSync(join(dir, 'layout', 'oci-layout'), 'utf8')) as { imageLayoutVersion: string };
  assert.equal(layout.imageLayoutVersion, '1.0.0');
  const blob = (d: z.infer<typeof descriptor>): Buffer => {
    const b = readFileSync(join(dir, 'layout', 'blobs', 'sha256', d.digest.slice(7)));
    assert.equal(b.length, d.size, `${name}: size of ${d.digest}`);
    assert.equal(`sha256:${createHash('sha256').update(b).digest('hex')}`, d.digest, `${name}: digest of a blob`);
    return b;
  };
  const index = indexSchema.parse(JSON.parse(readFileSync(join(dir, 'layout', 'index.json'), 'utf8')));
  assert.equal(index.manifests[0]!.annotations?.['org.opencontainers.image.ref.name'], TAG, `${name}: tagged with the chart's appVersion`);
  const manifest = manifestSchema.parse(JSON.parse(blob(index.manifests[0]!).toString()));
  const config = configSchema.parse(JSON.parse(blob(manifest.config).toString()));
  assert.equal(config.rootfs.diff_ids.length, manifest.layers.length);
  for (const l of manifest.layers) {
    assert.match(l.mediaType, /^application\/vnd\.oci\.image\.layer\.v1\.tar(\+gzip)?$/);
    blob(l);
    await runCli('tar', ['-xf', join(dir, 'layout', 'blobs', 'sha256', l.digest.slice(7)), '-C', join(dir, 'rootfs')]);
  }
  return { config, rootfs: join(dir, 'rootfs') };
}

/** Runs a command inside the unpacked root as the image's user (chroot needs root, as make test runs here). */
const inImage = (u: Unpacked, cmd: string[]) => runCli('/usr/sbin/chroot', [`--userspec=${u.config.config.User}`, u.rootfs, ...cmd], { check: false, env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp' } });

describe('make images (OCI archives)', () => {
  const work = mkdtempSync(join(tmpdir(), 'avec-images-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  it('operator: non-root, node entrypoint, --help and --version run from the image', async () => {
    const u = await unpack('operator', work);
    assert.equal(u.config.config.User, '65532:65532');
    assert.deepEqual(u.config.config.Entrypoint, ['node', '/app/operator/dist/main.js']);
    const help = await inImage(u, [...u.config.config.Entrypoint, '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: node operator\/dist\/main.js/);
    assert.match((await inImage(u, [...u.config.config.Entrypoint, '--version'])).stdout, new RegExp(`avec operator ${TAG}`));
    assert.match((await inImage(u, [...u.config.config.Entrypoint, 'release-claims', '--help'])).stdout, /release-claims/);
  });

  it('remoting-server: non-root, addon and executor inside, --help runs from the image', async () => {
    const u = await unpack('remoting-server', work);
    assert.equal(u.config.config.User, '65532:65532');
    assert.deepEqual(u.config.config.Entrypoint, ['node', '/app/remoting-server/dist/main.js']);
    assert.ok(u.config.config.Env?.includes('AVEC_ADDON=/opt/avec/lib/avec_addon.node'));
    const help = await inImage(u, [...u.config.config.Entrypoint, '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--executor/);
    assert.match((await inImage(u, [...u.config.config.Entrypoint, '--version'])).stdout, new RegExp(TAG.replace(/\./g, '\\.')));
    // The addon loads (its shared libraries are in the image) and the executor starts.
    const addon = await inImage(u, ['node', '-e', "const a = require('/opt/avec/lib/avec_addon.node'); console.log(typeof a.wireVersion === 'number' ? 'addon ok' : Object.keys(a))"]);
    assert.match(addon.stdout, /addon ok/, addon.stderr);
    const exec = await inImage(u, ['/opt/avec/bin/avec-executor', '--help']);
    assert.match(exec.stdout + exec.stderr, /avec-executor|usage|Usage/);
  });

  it('shim: non-root, the init container\'s copy works from the image', async () => {
    const u = await unpack('shim', work);
    assert.equal(u.config.config.User, '65532:65532');
    assert.equal(u.config.config.Entrypoint[0], '/bin/sh');
    const copy = await inImage(u, [...u.config.config.Entrypoint, '/tmp']);
    assert.equal(copy.code, 0, copy.stderr);
    for (const lib of ['libcuda.so.1', 'libnvidia-ml.so.1']) {
      assert.deepEqual(readFileSync(join(u.rootfs, 'tmp', lib)), readFileSync(join(REPO_ROOT, 'build', 'shim', lib)), lib);
    }
  });
});
