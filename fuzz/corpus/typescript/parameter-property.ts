class P {
  constructor(private x: number) {}
}
return new P(1);