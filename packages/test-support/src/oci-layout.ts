import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, digestOf, MediaType, type Descriptor } from '@pullthrough/oci';

/** An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/...`) being written. */
export class OciLayout {
  private readonly refs: Descriptor[] = [];
  /** Every blob written, by digest (manifests included). */
  readonly blobs = new Map<string, Buffer>();

  private constructor(readonly dir: string) {}

  static async create(dir: string): Promise<OciLayout> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    return new OciLayout(dir);
  }

  async writeBlob(mediaType: string, bytes: Buffer): Promise<Descriptor> {
    const digest = digestOf(bytes);
    await writeFile(join(this.dir, 'blobs', 'sha256', digestHex(digest)), bytes);
    this.blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Serialize `doc` once and store exactly those bytes, so its digest is stable. */
  writeJson(mediaType: string, doc: unknown): Promise<Descriptor> {
    return this.writeBlob(mediaType, Buffer.from(JSON.stringify(doc)));
  }

  /** Name a manifest or index in `index.json` (`oci:<dir>:<name>` for skopeo). */
  addRef(name: string, descriptor: Descriptor): void {
    const { platform: _platform, ...plain } = descriptor;
    this.refs.push({ ...plain, annotations: { 'org.opencontainers.image.ref.name': name } });
  }

  async writeIndex(): Promise<void> {
    const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: this.refs };
    await writeFile(join(this.dir, 'index.json'), JSON.stringify(index));
  }
}
