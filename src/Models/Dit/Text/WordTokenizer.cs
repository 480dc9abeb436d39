namespace Models.Dit.Text;

/// <summary>
/// A word-level tokenizer over a fixed vocabulary: text is lower-cased and split at every character that is not a
/// letter or digit; each word maps to its index, unknown words to <see cref="Unknown"/>; sequences are cut or
/// padded with <see cref="Pad"/> to <see cref="MaxLength"/> tokens. The empty caption (all padding) is the
/// 'no text' condition of classifier-free guidance.
/// </summary>
/// <example><c>var tok = new WordTokenizer(["a", "red", "circle"], 8); int[] ids = tok.Encode("A red circle"); // [2, 3, 4, 0, 0, 0, 0, 0]</c></example>
public sealed class WordTokenizer
{
    public const int Pad = 0, Unknown = 1;
    public const string PadWord = "<pad>", UnknownWord = "<unk>";

    readonly Dictionary<string, int> index = new(StringComparer.Ordinal);

    /// <summary>All tokens, index order: padding, unknown, then the words.</summary>
    public IReadOnlyList<string> Vocabulary { get; }
    public int MaxLength { get; }
    public int Count => Vocabulary.Count;

    public WordTokenizer(IEnumerable<string> words, int maxLength)
    {
        if (maxLength < 1) throw new ArgumentOutOfRangeException(nameof(maxLength), $"WordTokenizer: maximum length must be positive, got {maxLength}");
        MaxLength = maxLength;
        var vocab = new List<string> { PadWord, UnknownWord };
        foreach (var w in words.SelectMany(Split))
            if (!index.ContainsKey(w) && w != PadWord && w != UnknownWord) { index[w] = vocab.Count; vocab.Add(w); }
        Vocabulary = vocab;
    }

    /// <summary>Rebuilds a tokenizer from a saved <see cref="Vocabulary"/> (the first two entries are the special tokens).</summary>
    public static WordTokenizer FromVocabulary(IReadOnlyList<string> vocabulary, int maxLength)
    {
        if (vocabulary.Count < 2 || vocabulary[0] != PadWord || vocabulary[1] != UnknownWord)
            throw new InvalidDataException($"WordTokenizer: a saved vocabulary must start with {PadWord}, {UnknownWord}");
        return new WordTokenizer(vocabulary.Skip(2), maxLength);
    }

    /// <summary>Lower-cased words of <paramref name="text"/>.</summary>
    public static IEnumerable<string> Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var word = new System.Text.StringBuilder();
        foreach (var ch in text)
        {
            if (char.IsLetterOrDigit(ch)) word.Append(char.ToLowerInvariant(ch));
            else if (word.Length > 0) { yield return word.ToString(); word.Clear(); }
        }
        if (word.Length > 0) yield return word.ToString();
    }

    /// <summary>Exactly <see cref="MaxLength"/> ids for <paramref name="text"/>.</summary>
    public int[] Encode(string text)
    {
        var ids = new int[MaxLength];
        int n = 0;
        foreach (var w in Split(text))
        {
            if (n == MaxLength) break;
            ids[n++] = index.TryGetValue(w, out var id) ? id : Unknown;
        }
        return ids;
    }

    /// <summary>The ids of a batch, row after row: (B·MaxLength).</summary>
    public int[] EncodeBatch(IReadOnlyList<string> texts) => texts.SelectMany(Encode).ToArray();

    /// <summary>Words of the ids, padding dropped.</summary>
    public string Decode(IEnumerable<int> ids) => string.Join(' ', ids.Where(i => i != Pad).Select(i => (uint)i < (uint)Count ? Vocabulary[i] : UnknownWord));

    /// <summary>Whether every word of <paramref name="text"/> is in the vocabulary.</summary>
    public bool Knows(string text) => Split(text).All(index.ContainsKey);
}
