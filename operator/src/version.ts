// Version of the avec component; bumped with each release.
export const VERSION = '0.1.0';
