/**
 * The router's access to the Kubernetes API: in-cluster, with the pod's service-account token (read
 * again for every request: projected tokens rotate) and the cluster CA. Only EndpointSlices are read
 * and replaced; the Role allows nothing else (get/update on the two routed slices, by name).
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const SA = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface EndpointSlice {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  addressType: string;
  endpoints: { addresses: string[]; conditions?: Record<string, boolean>; targetRef?: { kind?: string; namespace?: string; name?: string } }[] | null;
  ports?: { name?: string; port?: number; protocol?: string }[];
}

export class ApiError extends Error {
  constructor(public readonly status: number, message: string) {
    super(message);
  }
}

export class Kube {
  private readonly host: string;
  private readonly port: number;
  private readonly ca: Buffer;

  constructor(private readonly timeoutMs = 2000) {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    if (!host) throw new Error('KUBERNETES_SERVICE_HOST is not set: the router runs inside the cluster only');
    this.host = host;
    this.port = Number(process.env.KUBERNETES_SERVICE_PORT ?? 443);
    this.ca = readFileSync(`${SA}/ca.crt`);
  }

  private call<T>(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<T> {
    const token = readFileSync(`${SA}/token`, 'utf8').trim();
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request({
        host: this.host, port: this.port, path, method, ca: this.ca, timeout: this.timeoutMs,
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(data ? { 'Content-Type': 'application/json' } : {}) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) {
            try { resolve(JSON.parse(text) as T); } catch (err) { reject(err); }
          } else {
            let message = text.slice(0, 300);
            try { message = (JSON.parse(text) as { message?: string }).message ?? message; } catch { /* keep the text */ }
            reject(new ApiError(res.statusCode ?? 0, `${method} ${path}: HTTP ${res.statusCode}: ${message}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  }

  private slicePath(namespace: string, name: string): string {
    return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices/${encodeURIComponent(name)}`;
  }

  getSlice(namespace: string, name: string): Promise<EndpointSlice> {
    return this.call('GET', this.slicePath(namespace, name));
  }

  /** Replaces a slice; fails with 409 when it changed since `slice.metadata.resourceVersion`. */
  replaceSlice(slice: EndpointSlice): Promise<EndpointSlice> {
    return this.call('PUT', this.slicePath(slice.metadata.namespace, slice.metadata.name), slice);
  }
}
