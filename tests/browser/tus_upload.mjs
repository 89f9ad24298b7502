// Uploads a file to Lectern with tus-js-client, the way a browser does, under node.
//
//   node tus_upload.mjs start  BASE TOKEN FILE STOP_FRACTION   → prints {"url": ...} after
//        aborting once STOP_FRACTION of the file is acknowledged (an interrupted upload)
//   node tus_upload.mjs resume BASE TOKEN FILE URL             → finishes it; prints {"done": true}
import { readFileSync } from 'node:fs';
import * as tus from 'tus-js-client';

const [mode, base, token, file, extra] = process.argv.slice(2);
const data = readFileSync(file);
const options = {
  endpoint: `${base}/api/v1/uploads`,
  headers: { Authorization: `Bearer ${token}` },
  chunkSize: 64 * 1024,
  retryDelays: [],
  metadata: { filename: 'lecture.mp4', title: 'Uploaded lecture', tags: 'physics,week-1' },
  uploadSize: data.length,
};

function fail(error) {
  console.error(`upload failed: ${error}`);
  process.exit(1);
}

if (mode === 'start') {
  const stopAt = Number(extra) * data.length;
  const upload = new tus.Upload(data, {
    ...options,
    onError: fail,
    onChunkComplete: (_chunk, accepted) => {
      if (accepted >= stopAt) {
        upload.abort(false).then(() => {
          console.log(JSON.stringify({ url: upload.url, accepted }));
          process.exit(0);
        });
      }
    },
    onSuccess: () => fail('finished before the interruption'),
  });
  upload.start();
} else if (mode === 'resume') {
  const upload = new tus.Upload(data, {
    ...options,
    uploadUrl: extra,
    onError: fail,
    onSuccess: () => {
      console.log(JSON.stringify({ done: true }));
      process.exit(0);
    },
  });
  upload.start();
} else {
  fail(`unknown mode ${mode}`);
}
