// Imported first by the page: some browsers report a language tag that Intl rejects (Chromium
// started under LANG=C.UTF-8 says "en-US@posix"), and libraries that format numbers with
// `new Intl.NumberFormat(navigator.language)` at load time (uPlot) would then throw and take the
// whole page down. Such a tag is replaced by its valid prefix, or by en-US.

function valid(tag: string): boolean {
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

const lang = navigator.language;
if (!valid(lang)) {
  const prefix = lang.split(/[@.]/)[0];
  const fixed = valid(prefix) ? prefix : 'en-US';
  Object.defineProperty(navigator, 'language', { get: () => fixed, configurable: true });
}
