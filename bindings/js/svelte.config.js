// Svelte 5 strips `lang="ts"` types natively: no preprocessor needed.
export default {};
