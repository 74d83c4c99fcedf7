import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, UnavailableError } from '@recsys/core';
import { BackendSettings, LiveBackend, chooseBackend } from '@recsys/feature-store/live-backend';
import { DEFAULT_REALTIME } from '@recsys/feature-store/realtime';
import { fixtureFiles, writeVersionDir } from '../../../test/support/artifact-fixture';

describe('chooseBackend', () => {
  it('auto picks redis exactly when REDIS_URL is set; an explicit choice wins', () => {
    expect(chooseBackend('auto', '')).toBe('memory');
    expect(chooseBackend('auto', undefined)).toBe('memory');
    expect(chooseBackend('auto', 'redis://127.0.0.1:6379')).toBe('redis');
    expect(chooseBackend('memory', 'redis://127.0.0.1:6379')).toBe('memory');
    expect(chooseBackend('redis', 'redis://127.0.0.1:6379')).toBe('redis');
  });

  it('refuses redis without REDIS_URL with a ConfigError naming it', () => {
    expect(() => chooseBackend('redis', '')).toThrow(ConfigError);
    expect(() => chooseBackend('redis', '')).toThrow('configuration: REDIS_URL is required when FEATURE_STORE_BACKEND=redis');
  });
});

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

function settings(over: Partial<BackendSettings>): BackendSettings {
  return {
    kind: 'memory',
    realtime: DEFAULT_REALTIME,
    artifactsDir: '/nonexistent',
    artifactsPollMs: 0,
    redis: { url: '', mode: 'single', keyPrefix: 'recsys', commandTimeoutMs: 200, pointerRefreshMs: 100, snapshotWaitMs: 0, itemCacheMaxEntries: 0, itemCacheTtlMs: 1000 },
    ...over,
  };
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('LiveBackend, memory', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-live-'));
    writeVersionDir(path.join(root, 'v1'), fixtureFiles());
    fs.writeFileSync(path.join(root, 'CURRENT'), 'v1\n');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('is UNAVAILABLE before start, serves the artifact after it and reports the version', async () => {
    const versions: string[] = [];
    const live = new LiveBackend(settings({ artifactsDir: root }), quiet, (v) => versions.push(v));
    expect(() => live.current()).toThrow(UnavailableError);
    await live.start();
    try {
      expect(live.current().kind).toBe('memory');
      expect(live.current().version()).toBe('v1');
      expect(versions).toContain('v1');
      const ctx = await live.current().userContext('u1', 10);
      expect(ctx.seen).toEqual(['20', '10']);
    } finally {
      await live.close();
    }
  });

  it('hot-reloads a new version when CURRENT moves (ARTIFACTS_POLL_MS) and keeps the real-time events', async () => {
    const versions: string[] = [];
    const live = new LiveBackend(settings({ artifactsDir: root, artifactsPollMs: 20 }), quiet, (v) => versions.push(v));
    await live.start();
    try {
      await live.current().ingest([{ eventId: 'e1', userId: 'u2', itemId: '10', eventType: 'click', timeMs: Date.now() }]);
      writeVersionDir(path.join(root, 'v2'), fixtureFiles());
      fs.writeFileSync(path.join(root, 'CURRENT'), 'v2\n');
      await until(() => live.current().version() === 'v2');
      expect(versions.slice(-1)).toEqual(['v2']);
      const ctx = await live.current().userContext('u2', 10);
      expect(ctx.realtime.recent).toEqual(['10']);
      expect(ctx.seen).toContain('10');
      // The same event id again is a duplicate: the state carried over, it was not rebuilt.
      expect(await live.current().ingest([{ eventId: 'e1', userId: 'u2', itemId: '10', eventType: 'click', timeMs: Date.now() }])).toEqual({ applied: 0, duplicates: 1 });
    } finally {
      await live.close();
    }
  });

  it('fails start naming the artifact problem', async () => {
    const live = new LiveBackend(settings({ artifactsDir: path.join(root, 'missing') }), quiet);
    await expect(live.start()).rejects.toThrow(/missing/);
    await live.close();
  });
});

describe('LiveBackend, redis', () => {
  it('with SNAPSHOT_WAIT_MS 0 fails start at once when Redis cannot be reached, and closes cleanly', async () => {
    // A port nothing listens on.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const live = new LiveBackend(settings({ kind: 'redis', redis: { ...settings({}).redis, url: `redis://127.0.0.1:${port}` } }), quiet);
    await expect(live.start()).rejects.toThrow(/ECONNREFUSED|connect|Connection/i);
    expect(() => live.current()).toThrow('feature store backend not ready');
    await live.close();
  });
});
