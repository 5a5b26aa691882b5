const n = <number>input;
return n;