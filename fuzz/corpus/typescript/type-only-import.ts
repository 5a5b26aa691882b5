import type { X } from "y";
export type { X };
return 1;