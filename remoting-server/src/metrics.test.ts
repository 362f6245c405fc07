import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics, recordTelemetry } from './metrics.js';

test('telemetry samples become device gauges; a sample without NVML clears them', async () => {
  const m = createMetrics();
  recordTelemetry(m, { available: true, devices: [{ uuid: 'GPU-1', memoryUsedBytes: 1024, gpuUtilizationPercent: 37, temperatureC: 55, powerMilliwatts: 250_500 }, { uuid: 'GPU-2', memoryUsedBytes: 0 }] });
  const text = await m.registry.metrics();
  assert.match(text, /avec_device_memory_used_bytes\{uuid="GPU-1"\} 1024/);
  assert.match(text, /avec_device_utilization_percent\{uuid="GPU-1"\} 37/);
  assert.match(text, /avec_device_temperature_celsius\{uuid="GPU-1"\} 55/);
  assert.match(text, /avec_device_power_watts\{uuid="GPU-1"\} 250.5/);
  assert.match(text, /avec_device_memory_used_bytes\{uuid="GPU-2"\} 0/);
  assert.doesNotMatch(text, /avec_device_utilization_percent\{uuid="GPU-2"\}/);
  recordTelemetry(m, { available: false, devices: [] });
  assert.doesNotMatch(await m.registry.metrics(), /uuid="GPU-1"/);
});

test('every metric carries the avec_ prefix', async () => {
  const names = (await createMetrics({ defaultMetrics: true }).registry.getMetricsAsJSON()).map((x) => x.name);
  assert.ok(names.length > 10);
  for (const n of names) assert.match(n, /^avec_/);
});
