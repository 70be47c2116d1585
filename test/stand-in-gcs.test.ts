/**
 * The Cloud Storage stand-in answers like the real service where the Firebase emulator alone is lenient
 * (test/stand-ins/gcs.ts). Each rule is shown to carry weight with the real @google-cloud/storage client:
 * the same calls fail with the rule on and go through with it off.
 */
import { IdempotencyStrategy, Storage, type File } from "@google-cloud/storage";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startGcsStandIn, type GcsStandIn, type GcsStandInOptions } from "./stand-ins/gcs.js";
import { startGoogleStandIns } from "./stand-ins/google-env.js";

const PROJECT = "stand-in-project";
const BUCKET = "aw-staging";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client configured the way production code gets it in tests: through STORAGE_EMULATOR_HOST. */
function clientFor(gcs: GcsStandIn): Storage {
  const saved = process.env.STORAGE_EMULATOR_HOST;
  process.env.STORAGE_EMULATOR_HOST = gcs.url;
  try {
    return new Storage({ projectId: PROJECT });
  } finally {
    if (saved === undefined) delete process.env.STORAGE_EMULATOR_HOST;
    else process.env.STORAGE_EMULATOR_HOST = saved;
  }
}

interface ClientError {
  code?: number | string;
  message?: string;
  errors?: { reason?: string }[];
}

async function failure(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (error) {
    return error as ClientError;
  }
  throw new Error("expected the call to fail");
}

const text = async (file: File) => (await file.download())[0].toString("utf8");

const stands: GcsStandIn[] = [];
async function standIn(options: GcsStandInOptions = {}): Promise<{ gcs: GcsStandIn; storage: Storage }> {
  const gcs = await startGcsStandIn(PROJECT, options);
  stands.push(gcs);
  return { gcs, storage: clientFor(gcs) };
}

afterAll(async () => {
  for (const gcs of stands) await gcs.close();
});

describe("one mutation per second per object name", () => {
  let on: { gcs: GcsStandIn; storage: Storage };
  let off: { gcs: GcsStandIn; storage: Storage };
  beforeAll(async () => {
    on = await standIn();
    off = await standIn({ rules: { objectMutationRate: false } });
  });

  it("the client retries 429 in general, but not a save without ifGenerationMatch", () => {
    const { retryOptions } = on.storage;
    expect(retryOptions.autoRetry).toBe(true);
    expect(retryOptions.retryableErrorFn?.({ code: 429 } as Parameters<NonNullable<typeof retryOptions.retryableErrorFn>>[0])).toBe(true);
    // RetryConditional: uploads, patches and deletes are retried only when a generation/metageneration
    // precondition makes them idempotent (File#save sets maxRetries to 0 without ifGenerationMatch).
    expect(retryOptions.idempotencyStrategy).toBe(IdempotencyStrategy.RetryConditional);
  });

  it("a second save to the same name within a second is 429 rateLimitExceeded, sent once, not retried", async () => {
    const file = on.storage.bucket(BUCKET).file("loads/one.json");
    await file.save("first", { resumable: false });
    // Client quirk (7.22): an unconditional simple save sets retryOptions.autoRetry = false on the shared
    // Storage object and never restores it, so every later request of that client goes without retries.
    expect(on.storage.retryOptions.autoRetry).toBe(false);
    const error = await failure(file.save("second", { resumable: false }));
    expect(error.code).toBe(429);
    expect(error.errors?.[0]?.reason).toBe("rateLimitExceeded");
    const inserts = on.gcs.requests.filter((r) => r.operation === "objects.insert" && r.object === "loads/one.json");
    expect(inserts.map((r) => r.status)).toEqual([200, 429]);
    expect(await text(file)).toBe("first");
    // Another name is unaffected, and the same name is writable again a second later.
    await on.storage.bucket(BUCKET).file("loads/two.json").save("other", { resumable: false });
    await sleep(1050);
    await file.save("third", { resumable: false });
    expect(await text(file)).toBe("third");
  });

  it("resumable uploads, metadata patches and deletes count against the same clock", async () => {
    const file = on.storage.bucket(BUCKET).file("loads/mixed.json");
    await file.save("v1", { resumable: false });
    // The resumable path reports the finalize's 429 in its message ("Retry limit exceeded - status: 429").
    expect((await failure(file.save("v2", { resumable: true }))).message).toMatch(/status: 429\b[\s\S]*rateLimitExceeded/);
    expect((await failure(file.setMetadata({ metadata: { k: "v" } }))).code).toBe(429);
    expect((await failure(file.delete())).code).toBe(429);
    const mine = on.gcs.requests.filter((r) => r.object === "loads/mixed.json");
    expect(mine.map((r) => `${r.operation} ${r.status}`)).toEqual([
      "objects.insert 200",
      "objects.resumableStart 200",
      "objects.resumableFinalize 429",
      "objects.patch 429",
      "objects.delete 429",
    ]);
    expect(on.gcs.counts((r) => r.object === "loads/mixed.json").rateLimited).toBe(3);
  });

  it("a save with ifGenerationMatch is idempotent, so the client backs off and retries the 429 itself", async () => {
    const storage = clientFor(on.gcs); // fresh: autoRetry still on (see the quirk above)
    const file = storage.bucket(BUCKET).file("loads/conditional.json");
    await file.save("v0", { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    await sleep(1050);
    let [meta] = await file.getMetadata();
    await file.save("v1", { resumable: false, preconditionOpts: { ifGenerationMatch: Number(meta.generation) } });
    [meta] = await file.getMetadata();
    await file.save("v2", { resumable: false, preconditionOpts: { ifGenerationMatch: Number(meta.generation) } });
    const inserts = on.gcs.requests.filter((r) => r.operation === "objects.insert" && r.object === "loads/conditional.json");
    expect(inserts.map((r) => r.status)).toEqual([200, 200, 429, 200]);
    expect(storage.retryOptions.autoRetry).toBe(true);
    expect(await text(file)).toBe("v2");
  });

  it("with the rule off, the same two saves both succeed", async () => {
    const file = off.storage.bucket(BUCKET).file("loads/one.json");
    await file.save("first", { resumable: false });
    await file.save("second", { resumable: false });
    await file.setMetadata({ metadata: { k: "v" } });
    expect(await text(file)).toBe("second");
    expect(off.gcs.counts().rateLimited).toBe(0);
  });
});

describe("generation and metageneration preconditions", () => {
  let gcs: GcsStandIn;
  let storage: Storage;
  beforeAll(async () => {
    ({ gcs, storage } = await standIn());
  });
  beforeEach(() => {
    // These cases rewrite one name in quick succession; the rate rule is shown above.
    gcs.rules.objectMutationRate = false;
    gcs.rules.preconditions = true;
  });

  it("ifGenerationMatch: 0 on an existing object is 412 conditionNotMet, for simple and resumable uploads", async () => {
    const file = storage.bucket(BUCKET).file("pre/create-once.json");
    await file.save("original", { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    for (const resumable of [false, true]) {
      const error = await failure(file.save("clobber", { resumable, preconditionOpts: { ifGenerationMatch: 0 } }));
      expect(error.code).toBe(412);
      expect(error.errors?.[0]?.reason).toBe("conditionNotMet");
    }
    expect(await text(file)).toBe("original");
    // With the rule off the emulator overwrites, as it always did.
    gcs.rules.preconditions = false;
    await file.save("clobber", { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    expect(await text(file)).toBe("clobber");
  });

  it("of two concurrent create-only saves exactly one wins", async () => {
    const file = storage.bucket(BUCKET).file("pre/race.json");
    const results = await Promise.allSettled(["a", "b"].map((body) => file.save(body, { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.filter((r) => r.status === "rejected").map((r) => (r.reason as ClientError).code)).toEqual([412]);
  });

  it("ifGenerationMatch with a stale generation fails on upload, get and delete; the current one passes", async () => {
    const file = storage.bucket(BUCKET).file("pre/generations.json");
    await file.save("v1", { resumable: false });
    const [first] = await file.getMetadata();
    await sleep(5); // the emulator's generation is the upload's millisecond
    await file.save("v2", { resumable: false });
    const [second] = await file.getMetadata();
    const stale = Number(first.generation);
    expect((await failure(file.save("v3", { resumable: false, preconditionOpts: { ifGenerationMatch: stale } }))).code).toBe(412);
    expect((await failure(file.getMetadata({ ifGenerationMatch: stale }))).code).toBe(412);
    expect((await fetch(`${gcs.url}/b/${BUCKET}/o/${encodeURIComponent(file.name)}?alt=media&ifGenerationMatch=${stale}`)).status).toBe(412);
    expect((await failure(file.delete({ ifGenerationMatch: stale }))).code).toBe(412);
    expect(await text(file)).toBe("v2");
    // ifGenerationNotMatch with the current generation: 304 Not Modified, per the documentation.
    expect((await fetch(`${gcs.url}/b/${BUCKET}/o/${encodeURIComponent(file.name)}?ifGenerationNotMatch=${String(second.generation)}`)).status).toBe(304);
    await file.delete({ ifGenerationMatch: Number(second.generation) });
    expect((await file.exists())[0]).toBe(false);
  });

  it("ifMetagenerationMatch guards metadata patches; each patch bumps the metageneration", async () => {
    const file = storage.bucket(BUCKET).file("pre/meta.json");
    await file.save("v1", { resumable: false });
    const [meta] = await file.getMetadata();
    expect(String(meta.metageneration)).toBe("1");
    await file.setMetadata({ metadata: { step: "1" } }, { ifMetagenerationMatch: 1 });
    const error = await failure(file.setMetadata({ metadata: { step: "2" } }, { ifMetagenerationMatch: 1 }));
    expect(error.code).toBe(412);
    const [after] = await file.getMetadata();
    expect(after.metadata).toEqual({ step: "1" });
    expect(String(after.metageneration)).toBe("2");
  });

  it("copy onto an existing destination with ifGenerationMatch: 0 is 412; the source's own preconditions are checked too", async () => {
    const bucket = storage.bucket(BUCKET);
    await bucket.file("pre/src.json").save("src", { resumable: false });
    await bucket.file("pre/dst.json").save("dst", { resumable: false });
    expect((await failure(bucket.file("pre/src.json").copy(bucket.file("pre/dst.json"), { preconditionOpts: { ifGenerationMatch: 0 } }))).code).toBe(412);
    const res = await fetch(`${gcs.url}/b/${BUCKET}/o/pre%2Fsrc.json/copyTo/b/${BUCKET}/o/pre%2Fnew.json?ifSourceGenerationMatch=1`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(412);
    await bucket.file("pre/src.json").copy(bucket.file("pre/new.json"), { preconditionOpts: { ifGenerationMatch: 0 } });
    expect(await text(bucket.file("pre/new.json"))).toBe("src");
    expect(await text(bucket.file("pre/dst.json"))).toBe("dst");
  });
});

describe("bucket location", () => {
  it("bucket.getMetadata() answers the configured location, uppercase, with its location type", async () => {
    const { gcs, storage } = await standIn({ bucketLocations: { "eu-staging": "europe-west1", "eu-multi": "eu" } });
    const [regional] = await storage.bucket("eu-staging").getMetadata();
    expect(regional).toMatchObject({ name: "eu-staging", location: "EUROPE-WEST1", locationType: "region" });
    const [multi] = await storage.bucket("eu-multi").getMetadata();
    expect(multi).toMatchObject({ location: "EU", locationType: "multi-region" });
    const [other] = await storage.bucket("anything").getMetadata();
    expect(other).toMatchObject({ location: "US", locationType: "multi-region" });
    // The JSON API's own spelling, which the BigQuery stand-in reads.
    const res = await fetch(`${gcs.url}/storage/v1/b/eu-staging`);
    expect(await res.json()).toMatchObject({ kind: "storage#bucket", location: "EUROPE-WEST1" });
    // And a client with apiEndpoint (paths under /storage/v1) sees the same.
    const viaEndpoint = new Storage({ projectId: PROJECT, apiEndpoint: gcs.url });
    expect((await viaEndpoint.bucket("eu-staging").getMetadata())[0].location).toBe("EUROPE-WEST1");
  });

  it("defaultLocation applies to every unlisted bucket", async () => {
    const { storage } = await standIn({ defaultLocation: "us-central1" });
    expect((await storage.bucket("x").getMetadata())[0]).toMatchObject({ location: "US-CENTRAL1", locationType: "region" });
  });

  it("with the rule off the emulator has no bucket resource at all", async () => {
    const { storage } = await standIn({ rules: { bucketLocation: false } });
    expect((await failure(storage.bucket(BUCKET).getMetadata())).code).toBe(404);
  });

  it("startGoogleStandIns passes the options through", async () => {
    const google = await startGoogleStandIns({ projectId: PROJECT, gcs: { bucketLocations: { [BUCKET]: "EU" } } });
    try {
      const [meta] = await new Storage({ projectId: PROJECT }).bucket(BUCKET).getMetadata();
      expect(meta.location).toBe("EU");
      expect(google.gcs.bucketLocation(BUCKET)).toBe("EU");
    } finally {
      await google.close();
    }
  });
});

describe("request accounting", () => {
  it("counts object reads (media and metadata), lists, writes and deletes", async () => {
    const { gcs, storage } = await standIn({ rules: { objectMutationRate: false } }); // a.json is deleted right after its write
    const bucket = storage.bucket(BUCKET);
    await bucket.file("acct/a.json").save("a", { resumable: false });
    await bucket.file("acct/b.json").save("b", { resumable: true }); // session start + finalize: two writes
    await bucket.file("acct/a.json").download();
    await bucket.file("acct/a.json").getMetadata();
    await bucket.file("acct/b.json").exists();
    await bucket.getFiles({ prefix: "acct/" });
    await bucket.file("acct/a.json").delete();
    await fetch(`${gcs.url}/download/storage/v1/b/${BUCKET}/o/acct%2Fb.json?alt=media`); // e.g. the BigQuery stand-in's own read

    const library = gcs.counts((r) => r.via === "client-library");
    expect(library).toMatchObject({ objectReads: 3, media: 1, metadata: 2, list: 1, write: 3, delete: 1, total: 8 });
    expect(gcs.counts()).toMatchObject({ objectReads: 4, media: 2, total: 9 });
    expect(gcs.requests.find((r) => r.kind === "list")).toMatchObject({ method: "GET", path: `/b/${BUCKET}/o`, query: { prefix: "acct/" }, status: 200 });
    expect(gcs.requests.filter((r) => r.kind === "write").map((r) => r.operation)).toEqual(["objects.insert", "objects.resumableStart", "objects.resumableFinalize"]);
    gcs.clearRequests();
    expect(gcs.counts().total).toBe(0);
  });
});
