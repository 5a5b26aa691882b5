const s: "文𐀀é" = "文𐀀é";
let t: { "ü\u2028": string } | null = null;
return s as unknown as string;
