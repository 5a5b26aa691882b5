const f = async <T,>(x: T): Promise<T> => x;
const g = (a: number, ...rest: number[]): number => a;
return await f<string>("x");