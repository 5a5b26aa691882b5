function d(t: any) { return t }
@d class C { @d m(): void {} }
return new C();