// The slice of the WebAssembly JS API this project uses. TypeScript ships it
// only in lib.dom, and @types/node does not declare it; pulling in the DOM
// for five names would let browser globals leak into server code.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
    static imports(module: Module): { module: string; name: string; kind: string }[];
    static exports(module: Module): { name: string; kind: string }[];
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer;
    grow(deltaPages: number): number;
  }
  function validate(bytes: BufferSource): boolean;
  type BufferSource = ArrayBufferView | ArrayBuffer;
}
