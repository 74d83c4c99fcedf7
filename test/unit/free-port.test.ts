import * as net from 'node:net';
import { ephemeralRange, freePort } from '@recsys/local';

// freePort picks below the kernel's ephemeral range, where no outgoing connection's local
// side can take the port between the pick and the service's bind.
const range = ephemeralRange();

(range && range[0] >= 11_000 ? it : it.skip)('gives bindable ports below the ephemeral range, not twice the same in a row', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 20; i++) ports.push(await freePort());
  for (const p of ports) {
    expect(p).toBeGreaterThanOrEqual(10_000);
    expect(p).toBeLessThan(range![0]);
  }
  expect(new Set(ports).size).toBeGreaterThan(15);
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(ports[0], '127.0.0.1', () => r()));
  await new Promise<void>((r) => srv.close(() => r()));
});
