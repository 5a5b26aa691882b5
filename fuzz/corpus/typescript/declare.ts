declare const kv: { get(key: string): Promise<string | null> };
declare function g(): void;
return await kv.get("a");