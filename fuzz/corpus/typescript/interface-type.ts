interface Point { x: number; y?: number }
type Row = { id: number } & Partial<Point>;
const rows: Row[] = [] as Row[];
return rows satisfies Row[];
