// Attaches a video element to Lectern's signed HLS or DASH playback: hls.js where Media Source
// Extensions exist, the browser's own HLS where they do not (Safari on iOS), dash.js when the
// viewer picks DASH. One small interface over the three for the quality menu.

export type EngineKind = 'hls' | 'dash' | 'native';

export interface Quality {
  /** The engine's index of this rendition. */
  index: number;
  height: number;
  bitrate: number;
}

export interface Engine {
  kind: EngineKind;
  /** Renditions, highest first (empty for native HLS, which picks by itself). */
  qualities(): Quality[];
  /** The chosen rendition's index, or -1 for automatic. */
  selected(): number;
  select(index: number): void;
  destroy(): void;
}

export interface AttachOptions {
  hls: string;
  dash: string;
  prefer: 'hls' | 'dash';
  startAt: number;
  /** Renditions became known (or changed). */
  onQualities: () => void;
  /** A failure the engine could not recover from, in words. */
  onFatal: (message: string) => void;
}

function canPlayHlsNatively(video: HTMLVideoElement) {
  return video.canPlayType('application/vnd.apple.mpegurl') !== '';
}

export async function attach(video: HTMLVideoElement, o: AttachOptions): Promise<Engine> {
  const { default: Hls } = await import('hls.js');
  const mse = Hls.isSupported();
  if (o.prefer === 'dash' && mse) return attachDash(video, o);
  if (mse) return attachHls(video, o, Hls);
  if (canPlayHlsNatively(video)) return attachNative(video, o);
  return attachDash(video, o);
}

function attachHls(video: HTMLVideoElement, o: AttachOptions, Hls: typeof import('hls.js').default): Engine {
  const hls = new Hls({ startPosition: o.startAt, capLevelToPlayerSize: false, enableWorker: true });
  let selected = -1;
  let recoveries = 0;
  hls.on(Hls.Events.MANIFEST_PARSED, () => o.onQualities());
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    if (recoveries++ < 3) {
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) return hls.startLoad();
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) return hls.recoverMediaError();
    }
    o.onFatal(
      data.type === Hls.ErrorTypes.NETWORK_ERROR
        ? 'The video could not be loaded: the network or the server failed. Reload to try again.'
        : `The video could not be played (${data.details}).`,
    );
  });
  hls.loadSource(o.hls);
  hls.attachMedia(video);
  return {
    kind: 'hls',
    qualities: () =>
      hls.levels
        .map((l, index) => ({ index, height: l.height, bitrate: l.bitrate }))
        .sort((a, b) => b.height - a.height),
    selected: () => selected,
    select(index) {
      selected = index;
      // currentLevel switches now (flushing the buffer); -1 gives the choice back to ABR.
      hls.currentLevel = index;
    },
    destroy: () => hls.destroy(),
  };
}

async function attachDash(video: HTMLVideoElement, o: AttachOptions): Promise<Engine> {
  const dashjs = await import('dashjs');
  const player = dashjs.MediaPlayer().create();
  let selected = -1;
  let reported = false;
  player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => o.onQualities());
  player.on(dashjs.MediaPlayer.events.ERROR, (e: unknown) => {
    if (reported) return;
    reported = true;
    const detail = (e as { error?: { message?: string } }).error?.message ?? 'unknown error';
    o.onFatal(`The video could not be played with DASH (${detail}).`);
  });
  player.initialize(video, o.dash, false, o.startAt);
  return {
    kind: 'dash',
    qualities: () => {
      const reps = player.getRepresentationsByType('video') ?? [];
      return reps
        .map((r, index) => ({ index, height: r.height ?? 0, bitrate: r.bandwidth ?? 0 }))
        .sort((a, b) => b.height - a.height);
    },
    selected: () => selected,
    select(index) {
      selected = index;
      const auto = index < 0;
      player.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: auto } } } });
      if (!auto) player.setRepresentationForTypeByIndex('video', index, true);
    },
    destroy: () => player.destroy(),
  };
}

function attachNative(video: HTMLVideoElement, o: AttachOptions): Engine {
  video.src = o.hls;
  video.addEventListener(
    'loadedmetadata',
    () => {
      if (o.startAt > 0) video.currentTime = o.startAt;
      o.onQualities();
    },
    { once: true },
  );
  video.addEventListener('error', () => o.onFatal('The video could not be played by this browser.'), { once: true });
  return {
    kind: 'native',
    qualities: () => [],
    selected: () => -1,
    select: () => {},
    destroy: () => {
      video.removeAttribute('src');
      video.load();
    },
  };
}
