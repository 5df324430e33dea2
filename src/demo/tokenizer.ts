// The demo model's tokenizer: byte-level BPE (ids 0..255 are the bytes, in GPT-2's byte↔unicode
// mapping; 256..258 the ChatML special tokens; then one id per learned merge, see bpe.ts) and a
// ChatML chat template — a real Hugging Face tokenizer.json that @huggingface/transformers (and
// Python's tokenizers) load as is.

export const SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
/** Id of <|im_end|>, the end of an assistant turn. */
export const IM_END = 256 + SPECIAL.indexOf('<|im_end|>');
export const BYTE_VOCAB = 256 + SPECIAL.length;

/** GPT-2's byte ↔ printable-unicode table, used by byte-level BPE. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i])));
  return table;
}

/** tokenizer.json and tokenizer_config.json contents; `merges` ("left right", in order) from trainBpe
 *  with the same `useRegex`. */
export function byteTokenizerFiles(
  merges: string[] = [],
  useRegex = true,
): { 'tokenizer.json': string; 'tokenizer_config.json': string } {
  const table = bytesToUnicode();
  const vocab: Record<string, number> = {};
  table.forEach((ch, b) => (vocab[ch] = b));
  SPECIAL.forEach((s, i) => (vocab[s] = 256 + i));
  for (const m of merges) {
    const [a, b] = m.split(' ');
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge "${m}" joins a token that is not in the vocabulary`);
    if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  }
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content, i) => ({
      id: 256 + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  const config = {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    unk_token: null,
    chat_template: CHATML_TEMPLATE,
    model_max_length: 512,
  };
  return { 'tokenizer.json': JSON.stringify(tokenizer), 'tokenizer_config.json': JSON.stringify(config) };
}
