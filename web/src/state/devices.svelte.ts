/** My devices (admins: everyone's): what each syncs, when it was last seen; revoking one. */
import type { DeviceInfo } from '../../../relay/protocol';
import { describe, request } from '../net/engine';
import { clientLog } from './log.svelte';

class Devices {
  items = $state<DeviceInfo[]>([]);
  all = $state(false);
  error = $state('');

  /** This browser says its name (shown in the list and in conflict copies). */
  async introduce(name: string): Promise<void> {
    await request('device.report', { name, kind: 'app' }).catch(() => {});
  }

  async load(): Promise<void> {
    try {
      this.items = (await request('device.list', { all: this.all })).devices;
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
  }

  async revoke(d: DeviceInfo): Promise<void> {
    try {
      const r = await request('device.revoke', { device: d.id });
      clientLog.add('info', `device ${d.name ?? d.id} revoked`, { endedSessions: r.endedSessions });
      await this.load();
    } catch (err) {
      this.error = describe(err);
    }
  }
}

export const devices = new Devices();
