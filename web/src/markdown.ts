// Notes are Markdown written by people: rendered without raw HTML (markdown-it escapes it) and
// with links limited to http(s) and mailto, opened in a new tab without a referrer.
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: true, breaks: true });

const SAFE_LINK = /^(https?:|mailto:)/i;
md.validateLink = (url: string) => SAFE_LINK.test(url.trim());

const defaultLinkOpen =
  md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx].attrSet('target', '_blank');
  tokens[idx].attrSet('rel', 'noopener noreferrer nofollow');
  return defaultLinkOpen(tokens, idx, options, env, self);
};
// No images: a note cannot make the reader's browser fetch other hosts.
md.disable('image');

export function renderMarkdown(source: string): string {
  return md.render(source);
}
