import type { Linter } from 'eslint';

/** The dependency rule as ESLint flat-config entries (see eslint.layers.mjs). */
export declare const layers: Linter.Config[];
