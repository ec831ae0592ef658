"""The handwritten digits that ship with scikit-learn: kvit's embedded real data set."""


def load_digits(image_size=32, test_fraction=0.2, seed=0):
    """Loads the 1,797 8x8 digits as [0, 255] float images, split into train and held-out sets.

    The split is stratified and seeded, so the held-out set is the same on every run. Images are
    upscaled bilinearly to `image_size` (the pipeline's resize, done once here).

    Returns:
        `(train_images, train_labels), (test_images, test_labels)`; images are
        `(n, image_size, image_size, 1)` float32, labels int32 in [0, 10).
    """
    import tensorflow as tf
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    images = (digits.images[..., None] * (255.0 / 16.0)).astype("float32")
    images = tf.image.resize(images, (image_size, image_size), method="bilinear").numpy()
    labels = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return (x_train, y_train), (x_test, y_test)
