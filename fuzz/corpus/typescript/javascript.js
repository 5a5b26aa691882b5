const xs = await Promise.all([1, 2].map(async x => x * 2));
return xs; // done
console.log(`a < b > c ${xs}`);
/* c */ return input?.x ?? null;
const r = /a[b]{2}/g; const big = 10n ** 20n;
